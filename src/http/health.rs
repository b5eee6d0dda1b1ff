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

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database is not ready");
        ApiError::Unavailable
    })?;
    if let Some(redis) = state.gate.shared_backend() {
        redis.ping().await.map_err(|e| {
            tracing::warn!(error = %e, "Redis is not ready");
            ApiError::Unavailable
        })?;
    }
    Ok(Json(json!({ "status": "ready" })))
}
