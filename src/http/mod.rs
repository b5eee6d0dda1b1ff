//! The HTTP edge: one router per resource, the error envelope, extractors.

mod access;
pub(crate) mod body;
mod brands;
mod claims;
pub mod cors;
mod dashboard;
mod deliveries;
mod draws;
mod drops;
pub mod error;
mod events;
pub mod extract;
mod health;
pub mod middleware;
pub mod openapi;
mod ops;
mod orders;
pub mod products;
mod query;
mod queue;
mod round_reads;
mod rounds;
mod schemas;
pub mod serve;
mod subscriptions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use self::error::ApiError;
use crate::state::AppState;

/// A `201 Created` answer: the path of what was created (in `Location`) and its body.
pub struct Created<T>(pub String, pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Created<T> {
    fn into_response(self) -> axum::response::Response {
        let Self(path, body) = self;
        let mut response = (axum::http::StatusCode::CREATED, axum::Json(body)).into_response();
        if let Ok(location) = axum::http::HeaderValue::try_from(path) {
            response
                .headers_mut()
                .insert(axum::http::header::LOCATION, location);
        }
        response
    }
}

/// Largest body of an ordinary request.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Every area's routes, merged into the whole API.
const AREAS: [fn() -> Router<AppState>; 16] = [
    health::router,
    brands::router,
    products::router,
    subscriptions::router,
    ops::router,
    openapi::router,
    events::router,
    dashboard::router,
    drops::router,
    orders::router,
    claims::router,
    draws::router,
    queue::router,
    rounds::router,
    round_reads::router,
    deliveries::router,
];

/// The whole API.
pub fn router(state: AppState, cors: Option<tower_http::cors::CorsLayer>) -> Router {
    crate::telemetry::metrics::install();
    AREAS
        .iter()
        .fold(Router::new(), |all, area| all.merge(area()))
        .fallback(|| async { ApiError::NotFound("route") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(RequestBodyLimitLayer::new(body::IMPORT_BODY_LIMIT))
        .layer(CatchPanicLayer::custom(|_| {
            use axum::response::IntoResponse;
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .layer(tower::util::option_layer(cors))
        .layer(axum::middleware::from_fn(middleware::edge))
        .with_state(state)
}
