//! Opening and resuming restock rounds: `POST …/notifications/re-stock`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::access::{AdminProduct, ManagedProduct};
use super::error::{ApiError, ApiResult};
use super::extract::{DeferredJson, query};
use super::round_reads::RoundView;
use super::schemas::{BadBody, Invalid, NeedsToken, Refused, UnknownId};
use crate::domain::ValidationError;
use crate::domain::product::MAX_STOCK;
use crate::domain::round::{Round, RoundStatus};
use crate::shop::detach::StepError;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/notifications/re-stock", post(restock))
        .route("/admin/products/{id}/notifications/re-stock", post(resume))
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
    let ended = crate::shop::rounds::get(&state.shop(), round.at())
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
