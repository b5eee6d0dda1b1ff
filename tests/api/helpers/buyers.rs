//! Buyers a notified user plays: a receiver hook that buys through the gate, an order over
//! HTTP as a buyer's app places it, and a buyer's client to move into a hook.

use dropline::domain::ids::{ProductId, UserId};
use dropline::gate::StockGate;
use dropline::tools::mock_receiver::Hook;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use super::TestApp;

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
    let token = buyer_token(keys, user, Duration::from_secs(600));
    let resp = client
        .post(format!("{base}/products/{product}/orders"))
        .bearer_auth(token)
        .send()
        .await
        .expect("order");
    let status = resp.status();
    (status, resp.json().await.unwrap_or_default())
}

/// A buyer's client, cheap to move into a receiver hook.
#[derive(Clone)]
pub struct Buyer {
    client: reqwest::Client,
    addr: String,
    keys: dropline::auth::TokenKeys,
}

impl Buyer {
    /// A buyer of `app`, with its client, address and signing keys.
    pub fn of(app: &TestApp) -> Self {
        Self {
            client: app.client.clone(),
            addr: app.addr.clone(),
            keys: app.keys.clone(),
        }
    }

    /// Orders one unit of `product` as `user`; answers the status.
    pub async fn order(&self, product: i64, user: i64) -> u16 {
        let token = buyer_token(&self.keys, user, Duration::from_secs(3600));
        self.client
            .post(format!("{}/products/{product}/orders", self.addr))
            .bearer_auth(token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }
}

/// A token of `user` good for `ttl`, signed with `keys`.
fn buyer_token(keys: &dropline::auth::TokenKeys, user: i64, ttl: Duration) -> String {
    keys.mint(dropline::auth::Principal::User(UserId::from_db(user)), ttl)
        .expect("mint")
}
