//! Orders placed over HTTP: place (with body and key), pay, cancel and read back.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestApp;
use super::requests::read;

/// Endpoint helpers for orders.
impl TestApp {
    /// `POST /products/{product}/orders` as `user`, with an optional JSON body and key.
    pub async fn order_with(
        &self,
        product: i64,
        user: i64,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}/products/{product}/orders", self.addr))
            .bearer_auth(self.user(user));
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request")).await
    }

    /// Orders one unit of `product` for `user`, without body or key.
    pub async fn order(&self, product: i64, user: i64) -> (StatusCode, Value) {
        self.order_with(product, user, None, None).await
    }

    /// Orders and insists on a 201; returns the order id.
    pub async fn reserve(&self, product: i64, user: i64) -> i64 {
        let (s, b) = self.order(product, user).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().expect("order id")
    }

    /// `POST /orders/{order}/pay` as `user`.
    pub async fn pay(&self, order: i64, user: i64, payment_ref: &str) -> (StatusCode, Value) {
        self.post(
            &format!("/orders/{order}/pay"),
            Some(&self.user(user)),
            json!({ "payment_ref": payment_ref }),
        )
        .await
    }

    /// `POST /orders/{order}/cancel` with `token`.
    pub async fn cancel(&self, order: i64, token: &str) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/orders/{order}/cancel"),
            Some(token),
            None,
        )
        .await
    }

    /// `GET /orders/{order}` as admin; returns the order.
    pub async fn order_status(&self, order: i64) -> String {
        let (s, b) = self
            .get(&format!("/orders/{order}"), Some(&self.admin()))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["status"].as_str().expect("status").to_owned()
    }
}
