//! The mock receiver's handler and the state it shares with its owner: how it behaves (latency,
//! failures, secrets) and what it recorded.

use axum::extract::State;
use axum::http::StatusCode;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use super::arrival::{Arrival, Hook, Notification, WebhookHeaders, header};
use crate::notify::signing::SigningKeys;

/// How the receiver behaves; change it while it runs through the setters.
#[derive(Default)]
pub(super) struct Behaviour {
    pub(super) latency_ms: AtomicU64,
    /// 0: never fail.
    pub(super) fail_from: AtomicU64,
    /// 0: no end; else the last request (1-based) that fails.
    pub(super) fail_until: AtomicU64,
    pub(super) fail_status: AtomicU16,
    /// The `Retry-After` value failed answers carry, if any.
    pub(super) retry_after: Mutex<Option<String>>,
    /// The secrets signatures are checked against; None: not checked.
    pub(super) keys: Mutex<Option<SigningKeys>>,
}

/// What the handler and the receiver's owner share.
pub(super) struct Shared {
    pub(super) behaviour: Behaviour,
    /// Every request in arrival order; the lock orders the count and the record together.
    pub(super) arrivals: Mutex<Vec<Arrival>>,
    pub(super) hook: Mutex<Option<Hook>>,
    /// Requests whose signature was missing or wrong (only counted with a secret).
    pub(super) bad_signatures: AtomicU64,
    /// How many requests arrived so far, for those who wait for some.
    pub(super) arrived: tokio::sync::watch::Sender<usize>,
}

impl Shared {
    /// Nothing recorded yet; failed answers are 500 until told otherwise.
    pub(super) fn new() -> Self {
        Self {
            behaviour: Behaviour {
                fail_status: AtomicU16::new(500),
                ..Behaviour::default()
            },
            arrivals: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
            bad_signatures: AtomicU64::new(0),
            arrived: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// The guard of `m`, poisoned or not.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Records one request, runs the hook, and answers as the behaviour says.
pub(super) async fn receive(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = req.headers().clone();
    let body = match crate::http::body::read(req).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    let Ok(notification) = serde_json::from_slice::<Notification>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let at = Instant::now();
    let fail_from = shared.behaviour.fail_from.load(Ordering::Relaxed);
    let fail_until = shared.behaviour.fail_until.load(Ordering::Relaxed);
    let webhook = WebhookHeaders::from_headers(&headers);
    let signature_valid = lock(&shared.behaviour.keys)
        .as_ref()
        .map(|keys| webhook.verify(keys, &body));
    if signature_valid == Some(false) {
        shared.bad_signatures.fetch_add(1, Ordering::Relaxed);
    }
    let arrival = {
        let mut all = lock(&shared.arrivals);
        let seq = all.len() as u64 + 1;
        let arrival = Arrival {
            seq,
            notification,
            idempotency_key: header(&headers, "idempotency-key"),
            webhook,
            body: body.clone(),
            signature_valid,
            at,
            accepted: fail_from == 0 || seq < fail_from || (fail_until != 0 && seq > fail_until),
        };
        all.push(arrival.clone());
        shared.arrived.send_replace(all.len());
        arrival
    };
    let hook = lock(&shared.hook).clone();
    if let Some(hook) = hook {
        hook(arrival.clone()).await;
    }
    let latency = shared.behaviour.latency_ms.load(Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if arrival.accepted {
        return StatusCode::OK.into_response();
    }
    let status = StatusCode::from_u16(shared.behaviour.fail_status.load(Ordering::Relaxed))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match lock(&shared.behaviour.retry_after).clone() {
        Some(value) => (status, [(axum::http::header::RETRY_AFTER, value)]).into_response(),
        None => status.into_response(),
    }
}
