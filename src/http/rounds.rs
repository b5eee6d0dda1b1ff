//! Opening and resuming restock rounds: `POST …/notifications/re-stock`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{DeferredJson, query};
use super::openapi::{BadBody, Invalid, NeedsToken, Refused, UnknownId};
use super::scoped::{AdminProduct, ManagedProduct};
use crate::domain::ValidationError;
use crate::domain::claim::{AlertMode, ClaimCounts};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::product::MAX_STOCK;
use crate::domain::round::{Round, RoundStatus};
use crate::shop::detach::StepError;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/notifications/re-stock", post(restock))
        .route("/admin/products/{id}/notifications/re-stock", post(resume))
        .merge(super::round_reads::router())
}

/// A round as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Round, example = json!({"product_id": 3, "round": 1, "status": "COMPLETED",
    "last_sent_user_id": 8, "notified_count": 3, "started_at": "2026-12-14T10:00:00Z",
    "finished_at": "2026-12-14T10:00:01Z", "error": null}))]
pub struct RoundView {
    #[schema(value_type = i64)]
    product_id: ProductId,
    round: i64,
    status: RoundStatus,
    /// The end of the unbroken run of users notified; null before the first.
    #[schema(value_type = Option<i64>, required = true)]
    last_sent_user_id: Option<UserId>,
    notified_count: i64,
    started_at: DateTime<Utc>,
    /// Null while `IN_PROGRESS`.
    #[schema(required = true)]
    finished_at: Option<DateTime<Utc>>,
    /// Why the round stopped, for `CANCELED_BY_ERROR`; otherwise null.
    #[schema(required = true)]
    error: Option<String>,
    /// What the round sends: the product's `alert_mode` when it opened.
    alert_mode: AlertMode,
    /// The round's claims by status (all 0 in broadcast mode).
    claims: ClaimCounts,
}

impl From<Round> for RoundView {
    fn from(r: Round) -> Self {
        Self {
            product_id: r.product_id,
            round: r.round,
            status: r.status,
            last_sent_user_id: r.last_sent_user_id,
            notified_count: r.notified_count,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
            alert_mode: r.alert_mode,
            claims: r.claims,
        }
    }
}

/// `?wait=true`: answer once the round has ended.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// `true`: answer 200 once the round has ended.
    #[param(value_type = Option<bool>)]
    wait: Option<String>,
}

impl WaitQuery {
    fn parse(&self) -> Result<bool, ValidationError> {
        match self.wait.as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ValidationError::new("wait", "must be true or false")),
        }
    }
}

/// The optional body of a restock: units added to stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"quantity": 100}))]
pub struct RestockRequest {
    #[schema(minimum = 1)]
    quantity: Option<i64>,
}

/// Restocks and opens a notification round (admin or an owning brand).
#[utoipa::path(post, path = "/products/{id}/notifications/re-stock", operation_id = "restockProduct", tag = "rounds", params(("id" = i64, Path, description = "Product id"), WaitQuery),
    request_body(content = Option<RestockRequest>), security(("bearer" = [])),
    responses((status = 202, description = "The round opened and is notifying the line", body = RoundView),
        (status = 200, description = "With wait=true: the round as it ended", body = RoundView),
        BadBody, NeedsToken, UnknownId, Refused, Invalid))]
async fn restock(
    State(state): State<AppState>,
    ManagedProduct(product): ManagedProduct,
    q: Result<Query<WaitQuery>, QueryRejection>,
    body: DeferredJson,
) -> ApiResult<(StatusCode, Json<RoundView>)> {
    let wait = query(q)?.parse()?;
    let body = body.parse_optional::<RestockRequest>()?;
    let quantity = match body.and_then(|b| b.quantity) {
        None => 0,
        Some(q) if (1..=MAX_STOCK).contains(&q) => q,
        Some(_) => {
            return Err(
                ValidationError::new("quantity", "must be between 1 and 1000000000").into(),
            );
        }
    };
    let (round, watch) =
        crate::shop::restock::restock(&state.notifier, &state.tasks, product.id, quantity).await?;
    answer(&state, round, wait.then_some(watch)).await
}

/// Resumes the latest round when it is CANCELED_BY_ERROR (admin).
#[utoipa::path(post, path = "/admin/products/{id}/notifications/re-stock", operation_id = "resumeRound", tag = "rounds", params(("id" = i64, Path, description = "Product id"), WaitQuery),
    security(("bearer" = [])),
    responses((status = 202, description = "The round goes on from the next subscriber", body = RoundView),
        (status = 200, description = "With wait=true: the round as it ended", body = RoundView),
        NeedsToken, UnknownId, Refused, Invalid))]
async fn resume(
    State(state): State<AppState>,
    AdminProduct(product): AdminProduct,
    q: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<(StatusCode, Json<RoundView>)> {
    let wait = query(q)?.parse()?;
    let (round, watch) =
        crate::shop::restock::resume(&state.notifier, &state.tasks, product.id).await?;
    answer(&state, round, wait.then_some(watch)).await
}

/// 202 with the round as opened, or (waiting) 200 with the round as it ended.
async fn answer(
    state: &AppState,
    round: Round,
    watch: Option<crate::notify::RoundWatch>,
) -> ApiResult<(StatusCode, Json<RoundView>)> {
    let Some(watch) = watch else {
        return Ok((StatusCode::ACCEPTED, Json(round.into())));
    };
    watch.ended().await;
    let ended = state
        .store
        .get_round(round.product_id, round.round)
        .await?
        .ok_or(ApiError::NotFound("round"))?;
    let status = if ended.status == RoundStatus::InProgress {
        // The server is stopping: the round goes on at the next start.
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(ended.into())))
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Store(s) => s.into(),
            StepError::Interrupted(i) => Self::Internal(i.to_string()),
        }
    }
}
