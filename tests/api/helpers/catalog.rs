//! Brands and products a test creates, and a product's stock as clients read it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestApp;
use super::requests::merged;

impl TestApp {
    /// Creates a brand as admin; asserts 201 and answers its id.
    pub async fn create_brand(&self, name: &str, category: &str) -> i64 {
        let (s, b) = self
            .post(
                "/brands",
                Some(&self.admin()),
                json!({"name": name, "category": category}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["id"].as_i64().expect("brand id")
    }

    /// Creates a product from `extra` merged over sane defaults (two brands, stock 10, on sale now).
    pub async fn create_product(&self, extra: Value) -> Value {
        let (s, b) = self.try_create_product(&self.admin(), extra).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b
    }

    /// `POST /products` as `token` with `extra` over the defaults of [`TestApp::create_product`].
    pub async fn try_create_product(&self, token: &str, extra: Value) -> (StatusCode, Value) {
        let mut body = json!({"name": "Chair One x Fleece", "price": 189000, "stock": 10});
        if extra.get("brand_ids").is_none() {
            let a = self.create_brand("Helinox", "camping").await;
            let b = self.create_brand("Kith", "fashion").await;
            body["brand_ids"] = json!([a, b]);
        }
        let body = merged(body, &extra);
        self.post("/products", Some(token), body).await
    }

    /// The product's free stock as `GET /products/{id}` shows it.
    pub async fn stock(&self, product: i64) -> i64 {
        let (s, b) = self.get(&format!("/products/{product}"), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["stock"].as_i64().expect("stock")
    }

    /// Creates a product with `extra` settings and answers its id.
    pub async fn product(&self, extra: Value) -> i64 {
        self.create_product(extra).await["id"]
            .as_i64()
            .expect("product id")
    }
}
