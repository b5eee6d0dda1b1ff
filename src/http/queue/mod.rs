//! `/products/{id}/queue`: the waiting room of a first-come product. A user joins, leaves
//! and reads its standing; the admin or an owning brand reads the members in the room's order
//! (`admin.rs`) and its counts. The product's `queue` settings are in `settings.rs`.

pub(super) mod admin;
pub(super) mod events;
pub mod settings;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Created;
use super::access::UserOnProduct;
use super::error::{ApiError, ApiResult};
use super::schemas::{ErrorBody, NeedsToken, UnknownId};
use crate::domain::queue::QueueState;
use crate::shop;
use crate::shop::queue::{QueueError, Standing};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/products/{id}/queue",
            put(join).delete(leave).get(standing),
        )
        .route("/products/{id}/queue/events", get(events::stream))
        .route("/admin/products/{id}/queue", get(admin::counts))
        .route("/admin/products/{id}/queue/members", get(admin::members))
}

/// One's standing in a product's waiting room.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QueueStanding, example = json!({"state": "WAITING", "place": 12, "units_ahead": 14}))]
pub struct StandingView {
    state: QueueState,
    /// 1-based place among the waiters; only while WAITING.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    place: Option<i64>,
    /// Units held by open admissions plus the per-user limit of each waiter ahead; only
    /// while WAITING.
    #[serde(skip_serializing_if = "Option::is_none")]
    units_ahead: Option<i64>,
    /// Until when the admission lasts; only while ADMITTED.
    #[serde(skip_serializing_if = "Option::is_none")]
    admitted_until: Option<DateTime<Utc>>,
}

impl From<Standing> for StandingView {
    fn from(s: Standing) -> Self {
        Self {
            state: s.state,
            place: s.place,
            units_ahead: s.units_ahead,
            admitted_until: s.admitted_until,
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::NotQueued => Self::NotQueued,
            QueueError::NotJoined => Self::NotFound("queue member"),
            QueueError::Conflict(c) => Self::Conflict(c),
            QueueError::Store(crate::store::StoreError::NotFound) => Self::NotFound("product"),
            QueueError::Store(e) => e.into(),
            QueueError::Interrupted(e) => Self::Internal(e.to_string()),
        }
    }
}

/// Joins the product's waiting room (user); a second call answers the place already held.
#[utoipa::path(put, path = "/products/{id}/queue", operation_id = "joinQueue", tag = "queue",
    params(("id" = i64, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 201, description = "Joined", body = StandingView, headers(("Location" = String, description = "The path of one's standing"))),
        (status = 200, description = "Already in the room (in any state)", body = StandingView),
        (status = 409, description = "`queue_closed`: before `queue.opens_at`, or the product sold out", body = ErrorBody),
        (status = 422, description = "`not_queued`: the product has no waiting room", body = ErrorBody),
        NeedsToken, UnknownId))]
async fn join(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<Response> {
    let (created, standing) = shop::queue::join(&state.shop(), &at.product, at.user).await?;
    let view = StandingView::from(standing);
    Ok(if created {
        Created(format!("/products/{}/queue", at.product.id), view).into_response()
    } else {
        (StatusCode::OK, Json(view)).into_response()
    })
}

/// Leaves the product's waiting room (user); an open admission is given up.
#[utoipa::path(delete, path = "/products/{id}/queue", operation_id = "leaveQueue", tag = "queue",
    params(("id" = i64, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 204, description = "Left (also when the place had already ended)"),
        (status = 422, description = "`not_queued`: the product has no waiting room", body = ErrorBody),
        NeedsToken, UnknownId))]
async fn leave(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<StatusCode> {
    shop::queue::leave(&state.shop(), &at.product, at.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's standing in the product's waiting room (user).
#[utoipa::path(get, path = "/products/{id}/queue", operation_id = "getQueueStanding", tag = "queue",
    params(("id" = i64, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 200, description = "The standing", body = StandingView),
        (status = 422, description = "`not_queued`: the product has no waiting room", body = ErrorBody),
        NeedsToken, UnknownId))]
async fn standing(
    State(state): State<AppState>,
    at: UserOnProduct,
) -> ApiResult<Json<StandingView>> {
    let standing = shop::queue::standing_of(&state.shop(), &at.product, at.user).await?;
    Ok(Json(standing.into()))
}
