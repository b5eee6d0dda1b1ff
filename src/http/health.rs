//! Liveness and readiness probes.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", operation_id = "getLiveness", tag = "operations",
    responses((status = 200, description = "Alive", body = Object, example = json!({"status": "ok"}))))]
async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and, with Redis, the scripts orders and rounds need run
/// there and the stock gate's mirror was refreshed since Redis last failed. With Redis the
/// answer also says how the stock-change feed between instances is heard (`stock_feed`:
/// `live`, or `silent` / `unreadable` while the counters are read instead).
#[utoipa::path(get, path = "/readyz", operation_id = "getReadiness", tag = "operations",
    responses((status = 200, description = "Ready; with Redis, `stock_feed` says how the stock-change feed is heard", body = Object, example = json!({"status": "ready", "stock_feed": "live"})),
        (status = 503, description = "The database or Redis cannot be used", body = super::schemas::ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let ready = crate::shop::readiness::check(&state.shop())
        .await
        .map_err(|_| ApiError::Unavailable)?;
    let mut answer = json!({ "status": "ready" });
    if let Some(feed) = ready.stock_feed {
        answer["stock_feed"] = json!(feed);
    }
    Ok(Json(answer))
}
