//! Request metrics: the duration of every answered request by route template and status.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

use crate::telemetry::metrics;

/// Label for requests that matched no route, so unknown paths cannot grow the label set.
const UNMATCHED: &str = "unmatched";

/// Times the request and records it under its route template (never the raw path).
pub async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(req).await;
    metrics::http_request(
        &method,
        route.as_deref().unwrap_or(UNMATCHED),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
