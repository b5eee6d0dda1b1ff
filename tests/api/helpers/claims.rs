//! Claim rounds: a claim product with a line on a notifying app, its claims and their
//! counts, the claim sweeper, and what the receiver was told.

use dropline::tools::mock_receiver::MockReceiver;
use serde_json::{Value, json};
use std::time::Duration;

use super::TestApp;
use super::requests::merged;
use super::rounds::Tuning;

/// How long claims last in these tests: far longer than any test runs, so only the test
/// clock makes them expire.
pub const CLAIM_SECONDS: i64 = 600;

impl TestApp {
    /// An app notifying `receiver`, and a claim product (no stock yet) with `line`.
    pub async fn claim_setup(
        self,
        receiver: &MockReceiver,
        line: &[i64],
        extra: Value,
    ) -> (Self, i64) {
        self.claim_setup_tuned(receiver, line, extra, Tuning::default())
            .await
    }

    /// As [`TestApp::claim_setup`], with one alert in flight at a time (so the receiver sees
    /// them in the order they start).
    pub async fn claim_setup_one_at_a_time(
        self,
        receiver: &MockReceiver,
        line: &[i64],
    ) -> (Self, i64) {
        self.claim_setup_tuned(receiver, line, json!({}), Tuning::concurrency(1))
            .await
    }

    /// As [`TestApp::claim_setup`], with the engine tuned as `tuning` says.
    pub async fn claim_setup_tuned(
        self,
        receiver: &MockReceiver,
        line: &[i64],
        extra: Value,
        tuning: Tuning,
    ) -> (Self, i64) {
        let app = self.notifying(receiver, tuning).await;
        let body = json!({"alert_mode": "claim", "claim_seconds": CLAIM_SECONDS});
        let body = merged(body, &extra);
        let product = app.product_with_line(0, line, body).await;
        (app, product)
    }

    /// Restocks `units` without waiting for the round; asserts 202.
    pub async fn restock_now(&self, product: i64, units: i64) -> Value {
        self.restock_accepted(product, Some(units)).await
    }

    /// Every claim of a round, in the order listed, following pages of `limit`.
    pub async fn claims(&self, product: i64, round: i64, limit: u32) -> Vec<Value> {
        let path = format!("/products/{product}/notifications/rounds/{round}/claims");
        self.every_item(&path, limit).await
    }

    /// (user, status) of every claim of a round, in the order made.
    pub async fn claim_states(&self, product: i64, round: i64) -> Vec<(i64, String)> {
        self.claims(product, round, 100)
            .await
            .iter()
            .map(|c| {
                (
                    c["user_id"].as_i64().expect("user_id"),
                    c["status"].as_str().expect("status").to_owned(),
                )
            })
            .collect()
    }

    /// Moves the clock past every claim made so far and runs the claim sweeper once. (A
    /// claim round that sees one of its claims due may expire it first: callers look at the
    /// claims, not at who expired them.)
    pub async fn expire_claims(&self) {
        self.state
            .clock
            .advance(Duration::from_secs(CLAIM_SECONDS as u64 + 1));
        dropline::shop::claims::expire_all_due(&self.state.shop())
            .await
            .expect("sweep");
    }

    /// The round's claim counts as `GET …/rounds/{round}` shows them: open, used, expired,
    /// released.
    pub async fn claim_counts(&self, product: i64, round: i64) -> [i64; 4] {
        let r = self.round(product, round).await;
        let c = &r["claims"];
        ["open", "used", "expired", "released"].map(|k| c[k].as_i64().expect("count"))
    }
}
