//! Serving HTTP/1 connections with the timeouts `axum::serve` lacks: a client must send a
//! request's head (request line and headers) within the header-read timeout, and a kept-alive
//! connection that carries no request for the keep-alive timeout is closed. A request being
//! answered, however long (`?wait=true`, the event stream), is never cut by either. A
//! request's body must arrive within the body read timeout of the end of its head (408, and
//! the connection closes), and hyper's own refusals of heads it cannot parse get the error
//! envelope.

mod socket;
mod timed;

pub use timed::BodyTimedOut;

use axum::Router;
use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// How long a connection may wait on its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a request's first byte (or the connection's start) to the end of its head.
    pub header_read: Duration,
    /// From the end of an answer to the first byte of the next request.
    pub keep_alive: Duration,
    /// From the end of a request's head to the end of its body.
    pub body_read: Duration,
}

/// Serves `app` on `listener` until `shutdown` fires, then lets open connections finish
/// their current request and close (the graceful shutdown of `axum::serve`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        match accepted {
            Ok((stream, _)) => {
                connections.spawn(connection(stream, app.clone(), timeouts, shutdown.clone()));
            }
            Err(e) => {
                // Out of file descriptors, mostly: give connections a moment to close.
                tracing::warn!(error = %e, "Failed to accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Drives one connection and closes it when the client keeps it waiting too long.
async fn connection(
    stream: TcpStream,
    app: Router,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(socket::Watched::new(stream, activity.clone()));
    let service = Tracked {
        app,
        activity: activity.clone(),
        body_read: timeouts.body_read,
    };
    // hyper's own header timer would also run while the connection idles between requests,
    // so both timeouts are kept here instead.
    let conn = http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        let deadline = activity.deadline(timeouts);
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = activity.changed.notified() => {}
            () = sleep_until(deadline) => {
                if activity.deadline(timeouts).is_some_and(|d| d <= Instant::now()) {
                    // Dropping the connection closes the socket; no request is in progress.
                    tracing::debug!("closing a connection whose client kept it waiting");
                    return;
                }
            }
            () = shutdown.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// A request's head is due: since the connection opened or the request's first byte.
    Head(Instant),
    /// Answers are being sent: how many (a response body may still be dropping when the
    /// next head is parsed).
    Busy(usize),
    /// Waiting for the next request since the last answer ended.
    Idle(Instant),
}

/// A connection's phase, shared by its socket, its service and its response bodies, which
/// all run on the connection's task; `changed` wakes that task to re-arm its timer.
struct Activity {
    phase: Mutex<Phase>,
    changed: Notify,
    /// An answer ended and hyper has not flushed since: its last bytes may be unwritten.
    unflushed: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            phase: Mutex::new(Phase::Head(Instant::now())),
            changed: Notify::new(),
            unflushed: AtomicBool::new(false),
        }
    }

    /// Whether no answer of ours is being written: nothing is being answered and every
    /// answer that ended has been flushed.
    fn quiet(&self) -> bool {
        let phase = *self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(phase, Phase::Busy(_)) && !self.unflushed.load(Ordering::Relaxed)
    }

    /// Hyper flushed the socket: whatever it had buffered is written.
    fn flushed(&self) {
        self.unflushed.store(false, Ordering::Relaxed);
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.phase.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = change(*phase);
        self.changed.notify_one();
    }

    /// Bytes arrived: after an idle spell they begin the next request's head.
    fn received(&self) {
        let idle = matches!(
            *self.phase.lock().unwrap_or_else(PoisonError::into_inner),
            Phase::Idle(_)
        );
        if idle {
            self.update(|_| Phase::Head(Instant::now()));
        }
    }

    /// A request's head is complete and its answer begins.
    fn answering(self: &Arc<Self>) -> Answered {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Head(_) | Phase::Idle(_) => Phase::Busy(1),
        });
        Answered(self.clone())
    }

    /// When the connection is to be closed unless something happens first.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        match *self.phase.lock().unwrap_or_else(PoisonError::into_inner) {
            Phase::Head(since) => Some(since + timeouts.header_read),
            Phase::Idle(since) => Some(since + timeouts.keep_alive),
            Phase::Busy(_) => None,
        }
    }
}

/// Marks an answer as ended when the response body is done with (or the request abandoned).
/// It only moves the connection's timers; it undoes nothing the request did.
struct Answered(Arc<Activity>);

impl Drop for Answered {
    fn drop(&mut self) {
        self.0.unflushed.store(true, Ordering::Relaxed);
        self.0.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }
}

/// The router as a hyper service whose answers report to the connection's activity.
#[derive(Clone)]
struct Tracked {
    app: Router,
    activity: Arc<Activity>,
    body_read: Duration,
}

impl hyper::service::Service<Request<Incoming>> for Tracked {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let answered = self.activity.answering();
        let app = self.app.clone();
        let expired = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + self.body_read;
        let req = req.map(|body| timed::TimedBody::new(body, deadline, expired.clone()));
        Box::pin(async move {
            let mut response = app.oneshot(req).await?;
            if expired.load(Ordering::Relaxed) {
                // The rest of a late body may still come: the connection cannot carry on.
                response.headers_mut().insert(
                    axum::http::header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
            }
            Ok(response.map(|body| TrackedBody {
                body,
                _answered: answered,
            }))
        })
    }
}

/// A response body that ends its answer when hyper is done with it.
struct TrackedBody {
    body: Body,
    _answered: Answered,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
