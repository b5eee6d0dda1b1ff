//! A recording webhook receiver for demos, tests and benchmarks (`dropline mock-receiver`):
//! it keeps every notification in arrival order, can answer slowly, and can fail from the
//! N-th request on.

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

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    /// 1-based count of requests received, in arrival order.
    pub seq: u64,
    /// The body's product id.
    pub product_id: i64,
    /// The body's round.
    pub round: i64,
    /// The body's user id.
    pub user_id: i64,
    /// The body's position.
    pub position: i64,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// Whether it was answered with success.
    pub accepted: bool,
}

/// Called for every request before it is answered (a notified user placing an order, say).
pub type Hook = Arc<dyn Fn(Arrival) -> BoxFuture<'static, ()> + Send + Sync>;

/// How the receiver behaves; change it while it runs through the setters.
#[derive(Default)]
struct Behaviour {
    latency_ms: AtomicU64,
    /// 0: never fail.
    fail_from: AtomicU64,
    fail_status: AtomicU16,
}

struct Shared {
    behaviour: Behaviour,
    /// Every request in arrival order; the lock orders the count and the record together.
    arrivals: Mutex<Vec<Arrival>>,
    hook: Mutex<Option<Hook>>,
}

/// A running receiver.
pub struct MockReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
}

#[derive(Deserialize)]
struct Body {
    product_id: i64,
    round: i64,
    user_id: i64,
    position: i64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let Ok(b) = serde_json::from_slice::<Body>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let at = Instant::now();
    let fail_from = shared.behaviour.fail_from.load(Ordering::Relaxed);
    let arrival = {
        let mut all = lock(&shared.arrivals);
        let seq = all.len() as u64 + 1;
        let arrival = Arrival {
            seq,
            product_id: b.product_id,
            round: b.round,
            user_id: b.user_id,
            position: b.position,
            idempotency_key: headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            at,
            accepted: fail_from == 0 || seq < fail_from,
        };
        all.push(arrival.clone());
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
        StatusCode::OK
    } else {
        StatusCode::from_u16(shared.behaviour.fail_status.load(Ordering::Relaxed))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
        self.shared
            .behaviour
            .fail_from
            .store(n.unwrap_or(0), Ordering::Relaxed);
    }

    /// Runs `hook` on every request before answering it.
    pub fn set_hook(&self, hook: Hook) {
        *lock(&self.shared.hook) = Some(hook);
    }

    /// Every request so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared.arrivals).clone()
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
            .map(|a| a.user_id)
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
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let receiver = MockReceiver::serve(listener)?;
    receiver.set_latency(latency);
    receiver.fail_from(fail_from, fail_status);
    println!("mock receiver listening on {}", receiver.url());
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
                    println!("second {second}: {} notifications ({} in total, busiest sliding second {})",
                        all.len() - seen, all.len(), busiest_second(&all));
                    seen = all.len();
                }
            }
        }
    }
    receiver.stop();
    Ok(())
}
