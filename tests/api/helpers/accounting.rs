//! The stock truth once work settles: waiting for quiet, gate equal to the database, one
//! reconciliation pass; and clients that give up mid-request.

use dropline::domain::ids::ProductId;
use rand::Rng;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use super::TestApp;

/// Sends one whole HTTP request on a fresh connection and closes it at once or after a
/// random moment of up to `max_wait_ms`, never reading the answer (a buyer who gave up).
pub async fn abandon(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    max_wait_ms: u64,
) {
    let addr = app.addr.trim_start_matches("http://").to_owned();
    let Ok(mut socket) = tokio::net::TcpStream::connect(&addr).await else {
        return;
    };
    let kind = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/json\r\n"
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         {kind}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(request.as_bytes()).await;
    let wait = rand::rng().random_range(0..=max_wait_ms);
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let _ = socket.shutdown().await;
    drop(socket);
}

/// Waits (bounded) until nothing is in flight for `product`: no units pending at the gate and
/// no more tasks than `baseline` (the service's own workers, counted before the test's load).
pub async fn settled(app: &TestApp, product: i64, baseline: usize) {
    let pid = ProductId::from_db(product);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut quiet = 0;
    loop {
        let _ = app.state.gate.refresh(pid).await;
        let idle = app.state.gate.level(pid).pending == 0 && app.state.tasks.len() <= baseline;
        quiet = if idle { quiet + 1 } else { 0 };
        if quiet >= 5 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "work never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Checks the stock truth of a product once work settled: the gate (in process, or the Redis
/// counter behind it) equals the database's free stock, and free + held = stocked.
pub async fn assert_accounted(app: &TestApp, product: i64, stocked: i64) {
    let pid = ProductId::from_db(product);
    let free = app
        .state
        .store
        .stock_of(pid)
        .await
        .expect("stock")
        .expect("product")
        .stock;
    let held = app.state.store.units_held(pid).await.expect("held");
    app.state.gate.refresh(pid).await.expect("redis");
    assert_eq!(
        free + held,
        stocked,
        "free {free} + held {held} != stocked {stocked}"
    );
    let level = app.state.gate.level(pid);
    assert_eq!(level.pending, 0, "units still pending at the gate");
    assert_eq!(
        level.available, free,
        "the gate says {} free, the database {free}",
        level.available
    );
}

/// Polls a future at most `n` times, then drops it: a client gone at the n-th await.
pub struct PollAtMost<F: Future> {
    inner: Pin<Box<F>>,
    left: usize,
}

impl<F: Future> PollAtMost<F> {
    /// `inner`, dropped after its `n`-th poll.
    pub fn new(inner: F, n: usize) -> Self {
        Self {
            inner: Box::pin(inner),
            left: n,
        }
    }
}

impl<F: Future> Future for PollAtMost<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        match self.inner.as_mut().poll(cx) {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// One reconciliation pass of `state`'s shared gate, as its maintenance loop runs it.
pub async fn reconcile_once(state: &dropline::state::AppState) -> Option<usize> {
    let redis = state.gate.shared_backend()?.clone();
    dropline::gate::sync::GateSync {
        store: state.store.clone(),
        gate: state.gate.clone(),
        redis,
    }
    .reconcile_once()
    .await
}
