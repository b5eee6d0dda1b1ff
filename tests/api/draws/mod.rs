//! Draws: the entry window, the verifiable draw, winners' orders and notifications, the
//! waitlist, the draw after downtime and across instances.

mod cluster;
mod draw;
mod entries;
mod verify;
mod waitlist;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::helpers::{TestApp, merged};

/// How long after creation a test draw's entry window stays open.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// Lowercase hex SHA-256, computed here (not by the server's code).
pub fn sha(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The draw recomputed from the seed: `(user, quantity)` in rank order, and the winners.
pub fn expected_draw(seed: &str, entries: &[(i64, i64)], units: i64) -> (Vec<i64>, Vec<i64>) {
    let mut keyed: Vec<(String, i64, i64)> = entries
        .iter()
        .map(|(u, q)| (sha(&format!("{seed}:{u}")), *u, *q))
        .collect();
    keyed.sort();
    let mut left = units;
    let mut winners = Vec::new();
    for (_, u, q) in &keyed {
        if *q <= left {
            left -= q;
            winners.push(*u);
        }
    }
    (keyed.into_iter().map(|(_, u, _)| u).collect(), winners)
}

impl TestApp {
    /// A draw product with `stock`, its window open from a minute ago for [`WINDOW`].
    pub async fn draw_product(&self, stock: i64, extra: Value) -> i64 {
        let now = self.state.clock.now();
        let body = json!({
            "stock": stock,
            "sale_mode": "draw",
            "sale_starts_at": rfc3339(now - chrono::Duration::minutes(1)),
            "sale_ends_at": rfc3339(now + chrono::Duration::from_std(WINDOW).unwrap()),
        });
        let body = merged(body, &extra);
        self.create_product(body).await["id"].as_i64().expect("id")
    }

    /// `PUT /products/{product}/entry` as `user` with `quantity` (no body when None).
    pub async fn enter(
        &self,
        product: i64,
        user: i64,
        quantity: Option<i64>,
    ) -> (StatusCode, Value) {
        self.call(
            "PUT",
            &format!("/products/{product}/entry"),
            Some(&self.user(user)),
            quantity.map(|q| json!({ "quantity": q })),
        )
        .await
    }

    /// Enters and insists on a 201.
    pub async fn entered(&self, product: i64, user: i64, quantity: i64) {
        let (s, b) = self.enter(product, user, Some(quantity)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// `DELETE /products/{product}/entry` as `user`.
    pub async fn withdraw(&self, product: i64, user: i64) -> (StatusCode, Value) {
        let path = format!("/products/{product}/entry");
        self.call("DELETE", &path, Some(&self.user(user)), None)
            .await
    }

    /// `GET /products/{product}/draw`, insisting on a 200.
    pub async fn draw(&self, product: i64) -> Value {
        let (s, b) = self.get(&format!("/products/{product}/draw"), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// Every entry of `/products/{product}/draw/entries`, following pages of `limit`.
    pub async fn draw_entries(&self, product: i64, limit: u32) -> Vec<Value> {
        let path = format!("/products/{product}/draw/entries");
        self.every_item(&path, limit).await
    }

    /// Moves the clock past the entry window of every test draw.
    pub fn close_windows(&self) {
        self.state.clock.advance(WINDOW + Duration::from_secs(1));
    }

    /// Runs one draw step here (due draws, waitlists, undelivered wins), as the worker does.
    pub async fn draw_step(&self) -> dropline::shop::draws::worker::StepOutcome {
        dropline::shop::draws::worker::step(&self.state.notifier)
            .await
            .expect("draw step")
    }

    /// A user's orders as `GET /me/orders` lists them.
    pub async fn orders_of(&self, user: i64) -> Vec<Value> {
        let (s, b) = self.get("/me/orders", Some(&self.user(user))).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"].as_array().expect("items").clone()
    }
}

/// A time as the API writes it.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
