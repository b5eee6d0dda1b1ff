//! Lines of subscribers: join, leave, import, the whole line, a product with a line, and
//! the users of a test line.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestApp;
use super::requests::merged;

impl TestApp {
    /// `PUT /products/{product}/subscription` as `user`.
    pub async fn join(&self, product: i64, user: i64) -> StatusCode {
        self.subscription("PUT", product, user).await
    }

    /// `DELETE /products/{product}/subscription` as `user`.
    pub async fn leave(&self, product: i64, user: i64) -> StatusCode {
        self.subscription("DELETE", product, user).await
    }

    /// `method /products/{product}/subscription` as `user`; answers the status.
    async fn subscription(&self, method: &str, product: i64, user: i64) -> StatusCode {
        let path = format!("/products/{product}/subscription");
        self.call(method, &path, Some(&self.user(user)), None)
            .await
            .0
    }

    /// Imports `users` into the line of `product`, as admin.
    pub async fn import(&self, product: i64, users: &[i64]) -> (StatusCode, Value) {
        self.post(
            &format!("/admin/products/{product}/subscriptions/import"),
            Some(&self.admin()),
            json!({ "user_ids": users }),
        )
        .await
    }

    /// The whole active line of a product, front first, following every page.
    pub async fn line(&self, product: i64) -> Vec<i64> {
        let path = format!("/admin/products/{product}/subscriptions");
        self.every_item(&path, 1000)
            .await
            .iter()
            .map(|i| i["user_id"].as_i64().expect("user"))
            .collect()
    }

    /// Creates a product with `stock` and `extra` settings, and a line of `users` in that order.
    pub async fn product_with_line(&self, stock: i64, users: &[i64], extra: Value) -> i64 {
        let body = json!({ "stock": stock });
        let body = merged(body, &extra);
        let product = self.create_product(body).await["id"].as_i64().expect("id");
        for chunk in users.chunks(50_000) {
            let (s, b) = self.import(product, chunk).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        product
    }
}

/// Users 1..=n in a shuffled-looking but fixed order (line order is not id order).
pub fn users(n: i64) -> Vec<i64> {
    (1..=n).map(|i| (i * 7919) % 1_000_003 + 1000).collect()
}
