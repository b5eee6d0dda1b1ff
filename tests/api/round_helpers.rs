//! Helpers for the restock round suites: an app wired to a recording receiver, one helper
//! per round endpoint, and hooks that play notified buyers.

use dropline::domain::ids::{ProductId, UserId};
use dropline::domain::round::RoundStatus;
use dropline::events::{EventHub, RoundProgress};
use dropline::gate::StockGate;
use dropline::tools::mock_receiver::{Hook, MockReceiver};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::helpers::TestApp;

/// How the engine of a test app is tuned.
pub struct Tuning {
    pub rate: u32,
    pub concurrency: u32,
    pub max_retries: u32,
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

    /// Creates a product with `stock` and `extra` settings, and a line of `users` in that order.
    pub async fn product_with_line(&self, stock: i64, users: &[i64], extra: Value) -> i64 {
        let mut body = json!({ "stock": stock });
        if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                obj.insert(k.clone(), v.clone());
            }
        }
        let product = self.create_product(body).await["id"].as_i64().expect("id");
        for chunk in users.chunks(50_000) {
            let (s, b) = self.import(product, chunk).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
        product
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

/// A hook under which every notified user buys one unit through the stock gate.
pub fn every_user_buys(gate: Arc<StockGate>, product: i64) -> Hook {
    let product = ProductId::from_db(product);
    Arc::new(move |_| {
        let gate = gate.clone();
        Box::pin(async move {
            if let Some(hold) = gate.try_take(product, 1) {
                hold.commit();
            }
        })
    })
}

/// Places one order of `product` for `user` over HTTP at `base`, as a notified buyer's app
/// would; answers the status and body.
pub async fn order_as_buyer(
    client: &reqwest::Client,
    base: &str,
    keys: &dropline::auth::TokenKeys,
    product: i64,
    user: i64,
) -> (StatusCode, Value) {
    let token = keys
        .mint(
            dropline::auth::Principal::User(UserId::from_db(user)),
            Duration::from_secs(600),
        )
        .expect("mint");
    let resp = client
        .post(format!("{base}/products/{product}/orders"))
        .bearer_auth(token)
        .send()
        .await
        .expect("order");
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

/// How many notification requests the engine has started in a running round so far (retries
/// included; 0 before its run begins), as its event hub counts them.
pub fn started_so_far(events: &EventHub, product: i64, round: i64) -> i64 {
    events
        .progress(ProductId::from_db(product), round)
        .map_or(0, |p| p.started_count)
}

/// The event that ended a round's run here, from a subscription taken before the run began;
/// call it once the round has ended.
pub fn final_event(
    events: &mut broadcast::Receiver<RoundProgress>,
    product: i64,
    round: i64,
) -> RoundProgress {
    let product = ProductId::from_db(product);
    loop {
        match events.try_recv() {
            Ok(e) if e.product_id == product && e.round == round => {
                if e.status != RoundStatus::InProgress {
                    return e;
                }
            }
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(e) => panic!("the round's run sent no final event: {e}"),
        }
    }
}

/// Waits (at most 30 s) until `count` progress events of a running round have reported
/// `last_sent` as the end of its unbroken run; answers them. The bookkeeping writes a
/// checkpoint every second while a run lasts, so the later ones come a second apart.
pub async fn checkpoints_at(
    events: &mut broadcast::Receiver<RoundProgress>,
    product: i64,
    round: i64,
    last_sent: i64,
    count: usize,
) -> Vec<RoundProgress> {
    let (product, last_sent) = (ProductId::from_db(product), UserId::from_db(last_sent));
    let mut seen = Vec::new();
    let wait = async {
        while seen.len() < count {
            match events.recv().await {
                Ok(e) if e.product_id == product && e.round == round => {
                    if e.last_sent_user_id == Some(last_sent) {
                        seen.push(e);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the event hub closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the round's checkpoints did not come");
    seen
}

/// Users 1..=n in a shuffled-looking but fixed order (line order is not id order).
pub fn users(n: i64) -> Vec<i64> {
    (1..=n).map(|i| (i * 7919) % 1_000_003 + 1000).collect()
}
