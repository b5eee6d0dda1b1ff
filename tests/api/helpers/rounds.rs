//! Restock rounds: an app wired to a recording receiver, and one helper per round endpoint.

use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::TestApp;
use super::lines::users;

/// How the engine of a test app is tuned.
pub struct Tuning {
    pub rate: u32,
    pub concurrency: u32,
    pub max_retries: u32,
}

impl Tuning {
    /// The default tuning with at most `n` notification requests in flight.
    pub fn concurrency(n: u32) -> Self {
        Self {
            concurrency: n,
            ..Self::default()
        }
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            rate: 5000,
            concurrency: 64,
            max_retries: 2,
        }
    }
}

impl TestApp {
    /// Restarts the app (same database) sending notifications to `receiver`.
    pub async fn notifying(self, receiver: &MockReceiver, tuning: Tuning) -> Self {
        let url = receiver.url();
        self.restart_with(move |s| {
            s.notify.notify_url = Some(url);
            s.notify.notify_rate = tuning.rate;
            s.notify.notify_concurrency = tuning.concurrency;
            s.notify.notify_max_retries = tuning.max_retries;
            s.notify.notify_backoff_ms = 1;
            s.notify.notify_timeout_ms = 5_000;
        })
        .await
    }

    /// Restarts the app notifying `receiver` as `tuning` says, with a product of `stock` and
    /// a line of [`users`]`(n)`; answers the app, the line and the product.
    pub async fn notifying_a_line(
        self,
        receiver: &MockReceiver,
        tuning: Tuning,
        n: i64,
        stock: i64,
    ) -> (Self, Vec<i64>, i64) {
        let app = self.notifying(receiver, tuning).await;
        let line = users(n);
        let product = app.product_with_line(stock, &line, json!({})).await;
        (app, line, product)
    }

    /// `POST /products/{id}/notifications/re-stock` as `token`.
    pub async fn restock_as(
        &self,
        product: i64,
        token: Option<&str>,
        quantity: Option<i64>,
        wait: bool,
    ) -> (StatusCode, Value) {
        let path = format!(
            "/products/{product}/notifications/re-stock{}",
            if wait { "?wait=true" } else { "" }
        );
        self.call(
            "POST",
            &path,
            token,
            quantity.map(|q| json!({ "quantity": q })),
        )
        .await
    }

    /// Restocks as admin without waiting for the round; asserts 202 and returns the round.
    pub async fn restock_accepted(&self, product: i64, quantity: Option<i64>) -> Value {
        let (s, b) = self
            .restock_as(product, Some(&self.admin()), quantity, false)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
        b
    }

    /// Restocks as admin and waits for the round to end; asserts 200 and returns the round.
    pub async fn restock_and_wait(&self, product: i64, quantity: Option<i64>) -> Value {
        let (s, b) = self
            .restock_as(product, Some(&self.admin()), quantity, true)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// `POST /admin/products/{id}/notifications/re-stock` as `token`.
    pub async fn resume_as(
        &self,
        product: i64,
        token: Option<&str>,
        wait: bool,
    ) -> (StatusCode, Value) {
        let path = format!(
            "/admin/products/{product}/notifications/re-stock{}",
            if wait { "?wait=true" } else { "" }
        );
        self.call("POST", &path, token, None).await
    }

    /// One round, as admin.
    pub async fn round(&self, product: i64, round: i64) -> Value {
        let (s, b) = self
            .get(
                &format!("/products/{product}/notifications/rounds/{round}"),
                Some(&self.admin()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// Every recipient of a round in the order listed, following pages of `limit`.
    pub async fn recipients(&self, product: i64, round: i64, limit: u32) -> Vec<i64> {
        let path = format!("/products/{product}/notifications/rounds/{round}/recipients");
        let items = self.every_item(&path, limit).await;
        items
            .iter()
            .map(|item| {
                assert!(item["sent_at"].is_string(), "{item}");
                item["user_id"].as_i64().expect("user_id")
            })
            .collect()
    }

    /// Waits for a round to end through the engine (recovering it here when nobody holds it).
    pub async fn settle(&self, product: i64, round: i64) -> Value {
        self.state
            .notifier
            .settle(ProductId::from_db(product), round)
            .await
            .expect("settle")
            .expect("round exists");
        self.round(product, round).await
    }
}
