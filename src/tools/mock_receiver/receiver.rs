//! A recording webhook receiver for demos, tests and benchmarks: it keeps every notification
//! in arrival order, can answer slowly, can fail from the N-th request on, and, given the
//! signing secrets, verifies signatures and counts bad ones.

use axum::Router;
use axum::routing::post;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::arrival::{Arrival, Hook};
use super::receive::{Shared, lock, receive};
use crate::notify::signing::SigningKeys;

/// A running receiver.
pub struct MockReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    /// The server's task.
    tasks: TaskTracker,
}

impl MockReceiver {
    /// Serves on `listener` until stopped or dropped.
    pub fn serve(listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let app = Router::new()
            .fallback(post(receive))
            .with_state(shared.clone());
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let tasks = TaskTracker::new();
        tasks.spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        tasks.close();
        Ok(Self {
            addr,
            shared,
            shutdown,
            tasks,
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

    /// Stops serving and waits until the server has answered its last request.
    pub async fn stopped(&self) {
        self.shutdown.cancel();
        self.tasks.wait().await;
    }
}

impl Drop for MockReceiver {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
