//! The waiting room: its settings and seed, joining and leaving, the verifiable order, and
//! stock-aware admission driven by the test clock and direct steps of the admitting worker.

mod admission;
mod events;
mod joining;
mod order;
mod outcomes;
mod settings;

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::draws::rfc3339;
use crate::helpers::{EventStream, TestApp, merged};

/// How far ahead of now a test room's sale starts (its room is open already).
pub const STARTS_IN: Duration = Duration::minutes(5);

impl TestApp {
    /// A first-come product with a waiting room and `stock`, its sale starting in
    /// [`STARTS_IN`]; `extra` is merged over the body.
    pub async fn queued_product(&self, stock: i64, extra: Value) -> i64 {
        let body = json!({
            "stock": stock,
            "sale_starts_at": rfc3339(self.state.clock.now() + STARTS_IN),
            "queue": {"enabled": true},
        });
        self.product(merged(body, &extra)).await
    }

    /// Moves the clock past the start of every test room's sale.
    pub fn start_sale(&self) {
        self.state.clock.advance(
            (STARTS_IN + Duration::seconds(1))
                .to_std()
                .expect("positive"),
        );
    }

    /// `PUT /products/{product}/queue` as `user`.
    pub async fn join_queue(&self, product: i64, user: i64) -> (StatusCode, Value) {
        let path = format!("/products/{product}/queue");
        self.put(&path, Some(&self.user(user))).await
    }

    /// Joins and insists on a 201.
    pub async fn joined(&self, product: i64, users: &[i64]) {
        for u in users {
            let (s, b) = self.join_queue(product, *u).await;
            assert_eq!(s, StatusCode::CREATED, "user {u}: {b}");
        }
    }

    /// `DELETE /products/{product}/queue` as `user`.
    pub async fn leave_queue(&self, product: i64, user: i64) -> (StatusCode, Value) {
        let path = format!("/products/{product}/queue");
        self.call("DELETE", &path, Some(&self.user(user)), None)
            .await
    }

    /// `GET /products/{product}/queue` as `user`.
    pub async fn standing(&self, product: i64, user: i64) -> (StatusCode, Value) {
        let path = format!("/products/{product}/queue");
        self.get(&path, Some(&self.user(user))).await
    }

    /// The state `GET /products/{product}/queue` shows `user`.
    pub async fn queue_state(&self, product: i64, user: i64) -> String {
        let (s, b) = self.standing(product, user).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["state"].as_str().expect("state").to_owned()
    }

    /// The states of `users`, in that order.
    pub async fn queue_states(&self, product: i64, users: &[i64]) -> Vec<String> {
        let mut states = Vec::new();
        for u in users {
            states.push(self.queue_state(product, *u).await);
        }
        states
    }

    /// `user`'s open `GET /products/{product}/queue/events` (token in the query).
    pub async fn queue_events(&self, product: i64, user: i64) -> EventStream {
        let path = format!("/products/{product}/queue/events?token={}", self.user(user));
        EventStream::at(self, &path).await
    }

    /// The room's members in its order.
    pub async fn in_queue_order(&self, product: i64) -> Vec<i64> {
        self.queue_members(product, 50)
            .await
            .iter()
            .map(|m| m["user_id"].as_i64().expect("user_id"))
            .collect()
    }

    /// One step of the admitting worker, as the background loop runs it.
    pub async fn queue_step(&self) {
        dropline::shop::queue::worker::step(&self.state.shop())
            .await
            .expect("queue step");
    }

    /// Only the worker's other half: the watched rooms read again where they changed (no
    /// admission, nothing written).
    pub async fn refresh_rooms(&self) {
        let shop = self.state.shop();
        shop.live_rooms
            .refresh(&*shop.store, shop.clock.now())
            .await
            .expect("room refresh");
    }

    /// `GET /admin/products/{product}/queue` as admin.
    pub async fn queue_counts(&self, product: i64) -> Value {
        let path = format!("/admin/products/{product}/queue");
        let (s, b) = self.get(&path, Some(&self.admin())).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// Every member of `/admin/products/{product}/queue/members`, in pages of `limit`.
    pub async fn queue_members(&self, product: i64, limit: u32) -> Vec<Value> {
        let path = format!("/admin/products/{product}/queue/members");
        self.every_item(&path, limit).await
    }
}

/// A room's counts in the order waiting, admitted, ordered, expired, left, sold_out.
pub fn counts(c: &Value) -> [i64; 6] {
    [
        "waiting", "admitted", "ordered", "expired", "left", "sold_out",
    ]
    .map(|k| c[k].as_i64().expect("count"))
}

/// Owned state names, for comparing with [`TestApp::queue_states`].
pub fn states(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// Reads `standing` events until one equals `want` (30 s at most), insisting that each
/// differs from the one before (the stream sends changes only); answers how many came.
pub async fn standing_reaches(stream: &mut EventStream, want: &Value) -> usize {
    let mut last: Option<Value> = None;
    let mut seen = 0;
    loop {
        let now = stream.next_standing().await;
        seen += 1;
        assert_ne!(
            last.as_ref(),
            Some(&now),
            "the stream sent an unchanged standing"
        );
        if &now == want {
            return seen;
        }
        last = Some(now);
    }
}
