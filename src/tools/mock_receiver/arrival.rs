//! What the mock receiver records of each request: the arrival, the body's fields, the
//! Standard Webhooks headers; the hook run on each, and the busiest second of a run.

use axum::body::Bytes;
use axum::http::HeaderMap;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::sync::Arc;
use tokio::time::Instant;

use crate::notify::limiter::most_in_one_second;
use crate::notify::signing::SigningKeys;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// 1-based count of requests received, in arrival order.
    pub seq: u64,
    /// What the body says.
    pub notification: Notification,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The Standard Webhooks headers.
    pub webhook: WebhookHeaders,
    /// The exact bytes of the body.
    pub body: Bytes,
    /// Whether the signature checked out; None when the receiver has no secret.
    pub signature_valid: Option<bool>,
    /// When it arrived.
    pub at: Instant,
    /// Whether it was answered with success.
    pub accepted: bool,
}

/// The fields recorded from a body; a draw's win has no round nor position (0 here).
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    /// The product restocked or drawn.
    pub product_id: i64,
    /// The restock round.
    #[serde(default)]
    pub round: i64,
    /// The user notified.
    pub user_id: i64,
    /// The user's position in the line.
    #[serde(default)]
    pub position: i64,
}

/// The Standard Webhooks headers of a request, each None when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookHeaders {
    /// `webhook-id`.
    pub id: Option<String>,
    /// `webhook-timestamp`.
    pub timestamp: Option<String>,
    /// `webhook-signature`.
    pub signature: Option<String>,
}

impl WebhookHeaders {
    /// The headers of a request.
    pub(super) fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            id: header(headers, "webhook-id"),
            timestamp: header(headers, "webhook-timestamp"),
            signature: header(headers, "webhook-signature"),
        }
    }

    /// Whether the headers sign `body` under `keys`.
    pub(super) fn verify(&self, keys: &SigningKeys, body: &[u8]) -> bool {
        let ts = self
            .timestamp
            .as_deref()
            .and_then(|t| t.parse::<i64>().ok());
        match (self.id.as_deref(), ts, self.signature.as_deref()) {
            (Some(id), Some(ts), Some(sig)) => keys.verify(id, ts, sig, body),
            _ => false,
        }
    }
}

/// Called for every request before it is answered (a notified user placing an order, say).
pub type Hook = Arc<dyn Fn(Arrival) -> BoxFuture<'static, ()> + Send + Sync>;

/// The header `name` as text, if present and visible ASCII.
pub(super) fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The most arrivals inside any half-open one-second window.
pub fn busiest_second(arrivals: &[Arrival]) -> usize {
    most_in_one_second(arrivals.iter().map(|a| a.at).collect())
}
