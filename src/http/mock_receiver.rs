//! A recording webhook receiver for demos, tests and benchmarks (`dropline mock-receiver`):
//! it keeps every notification in arrival order, can answer slowly, can fail from the N-th
//! request on, and, given the signing secrets, verifies signatures and counts bad ones.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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
    fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            id: header(headers, "webhook-id"),
            timestamp: header(headers, "webhook-timestamp"),
            signature: header(headers, "webhook-signature"),
        }
    }

    /// Whether the headers sign `body` under `keys`.
    fn verify(&self, keys: &SigningKeys, body: &[u8]) -> bool {
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

/// How the receiver behaves; change it while it runs through the setters.
#[derive(Default)]
struct Behaviour {
    latency_ms: AtomicU64,
    /// 0: never fail.
    fail_from: AtomicU64,
    /// 0: no end; else the last request (1-based) that fails.
    fail_until: AtomicU64,
    fail_status: AtomicU16,
    /// The `Retry-After` value failed answers carry, if any.
    retry_after: Mutex<Option<String>>,
    /// The secrets signatures are checked against; None: not checked.
    keys: Mutex<Option<SigningKeys>>,
}

struct Shared {
    behaviour: Behaviour,
    /// Every request in arrival order; the lock orders the count and the record together.
    arrivals: Mutex<Vec<Arrival>>,
    hook: Mutex<Option<Hook>>,
    /// Requests whose signature was missing or wrong (only counted with a secret).
    bad_signatures: AtomicU64,
    /// How many requests arrived so far, for those who wait for some.
    arrived: tokio::sync::watch::Sender<usize>,
}

/// A running receiver.
pub struct MockReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let headers = req.headers().clone();
    let body = match super::body::read(req).await {
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

impl MockReceiver {
    /// Serves on `listener` until stopped or dropped.
    pub fn serve(listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behaviour: Behaviour {
                fail_status: AtomicU16::new(500),
                ..Behaviour::default()
            },
            arrivals: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
            bad_signatures: AtomicU64::new(0),
            arrived: tokio::sync::watch::Sender::new(0),
        });
        let app = Router::new()
            .fallback(post(receive))
            .with_state(shared.clone());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(Self {
            addr,
            shared,
            shutdown,
        })
    }

    /// Binds 127.0.0.1 on a free port and serves there.
    pub async fn start() -> std::io::Result<Self> {
        Self::serve(TcpListener::bind("127.0.0.1:0").await?)
    }

    /// The URL to configure as the webhook.
    pub fn url(&self) -> String {
        format!("http://{}/notify", self.addr)
    }

    /// Adds this much delay before every answer.
    pub fn set_latency(&self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.shared
            .behaviour
            .latency_ms
            .store(ms, Ordering::Relaxed);
    }

    /// Answers `status` to the `n`-th request (1-based, counting all received) and every later
    /// one; None: answer 200 again.
    pub fn fail_from(&self, n: Option<u64>, status: u16) {
        self.shared
            .behaviour
            .fail_status
            .store(status, Ordering::Relaxed);
        self.shared.behaviour.fail_until.store(0, Ordering::Relaxed);
        self.shared
            .behaviour
            .fail_from
            .store(n.unwrap_or(0), Ordering::Relaxed);
    }

    /// Answers `status` to the first `n` requests (counting all received), 200 after them.
    pub fn fail_first(&self, n: u64, status: u16) {
        let b = &self.shared.behaviour;
        b.fail_status.store(status, Ordering::Relaxed);
        b.fail_until.store(n, Ordering::Relaxed);
        b.fail_from
            .store(if n == 0 { 0 } else { 1 }, Ordering::Relaxed);
    }

    /// Sends `Retry-After: value` with every failed answer (None: no such header).
    pub fn set_retry_after(&self, value: Option<String>) {
        *lock(&self.shared.behaviour.retry_after) = value;
    }

    /// Verifies every request's signature against `keys` and counts the bad ones.
    pub fn verify_with(&self, keys: SigningKeys) {
        *lock(&self.shared.behaviour.keys) = Some(keys);
    }

    /// Requests whose signature was missing or did not verify (0 without a secret).
    pub fn bad_signatures(&self) -> u64 {
        self.shared.bad_signatures.load(Ordering::Relaxed)
    }

    /// Runs `hook` on every request before answering it.
    pub fn set_hook(&self, hook: Hook) {
        *lock(&self.shared.hook) = Some(hook);
    }

    /// Every request so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared.arrivals).clone()
    }

    /// Waits until at least `n` requests have arrived (at once if they have).
    pub async fn wait_for(&self, n: usize) {
        let mut arrived = self.shared.arrived.subscribe();
        let _ = arrived.wait_for(|count| *count >= n).await;
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        lock(&self.shared.arrivals).len()
    }

    /// The user ids answered with success, in arrival order.
    pub fn accepted_users(&self) -> Vec<i64> {
        lock(&self.shared.arrivals)
            .iter()
            .filter(|a| a.accepted)
            .map(|a| a.notification.user_id)
            .collect()
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for MockReceiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The most arrivals inside any half-open one-second window.
pub fn busiest_second(arrivals: &[Arrival]) -> usize {
    let mut times: Vec<Instant> = arrivals.iter().map(|a| a.at).collect();
    times.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// `dropline mock-receiver`: serve until Ctrl-C, printing how many arrived each second.
pub async fn run_cli(
    listener: TcpListener,
    latency: Duration,
    fail_from: Option<u64>,
    fail_status: u16,
    keys: Option<SigningKeys>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let receiver = MockReceiver::serve(listener)?;
    receiver.set_latency(latency);
    receiver.fail_from(fail_from, fail_status);
    let verifying = keys.is_some();
    if let Some(keys) = keys {
        receiver.verify_with(keys);
    }
    println!(
        "mock receiver listening on {}{}",
        receiver.url(),
        if verifying {
            " (verifying signatures)"
        } else {
            ""
        }
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut seen = 0;
    let mut second = 0_u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                second += 1;
                let all = receiver.arrivals();
                if all.len() > seen {
                    let bad = if verifying {
                        format!(", {} with a bad signature", receiver.bad_signatures())
                    } else {
                        String::new()
                    };
                    println!("second {second}: {} notifications ({} in total, busiest sliding second {}{bad})",
                        all.len() - seen, all.len(), busiest_second(&all));
                    seen = all.len();
                }
            }
        }
    }
    receiver.stop();
    Ok(())
}
