//! The HTTP edge: one router per resource, the error envelope, extractors.

mod brands;
mod dashboard;
pub mod error;
mod events;
pub mod extract;
mod health;
pub mod mock_receiver;
mod observe;
pub mod openapi;
mod ops;
mod orders;
pub mod products;
mod query;
mod round_reads;
mod rounds;
pub mod serve;
mod subscriptions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use self::error::ApiError;
use crate::state::AppState;

/// Largest body of an ordinary request.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    crate::telemetry::metrics::install();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(health::router())
        .merge(brands::router())
        .merge(products::router())
        .merge(subscriptions::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(events::router())
        .merge(dashboard::router())
        .merge(orders::router())
        .merge(rounds::router())
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(observe::record))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(subscriptions::IMPORT_BODY_LIMIT))
        .layer(
            TraceLayer::new_for_http().make_span_with(move |req: &Request<_>| {
                let id = req
                    .headers()
                    .get(&request_id)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .with_state(state)
}
