//! Operator endpoints: the Prometheus scrape.

use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;
use crate::telemetry::metrics;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// The Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics", operation_id = "getMetrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain", body = String))
)]
pub(crate) async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    for (product, level) in state.gate.snapshot() {
        metrics::stock(product, level.available, level.pending);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        metrics::render(),
    )
}
