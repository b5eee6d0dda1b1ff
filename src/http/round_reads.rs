//! Reading rounds: the list, one round, and who a round notified (admin or an owning brand).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{ManagedProduct, PageOfRound, ProductPage, load_managed, round_number};
use super::error::{ApiError, ApiResult};
use super::extract::Caller;
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{Invalid, NeedsToken, UnknownId};
use crate::domain::claim::{AlertMode, ClaimCounts};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::Page;
use crate::domain::round::{Round, RoundRef, RoundStatus};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/notifications/rounds", get(list))
        .route("/products/{id}/notifications/rounds/{round}", get(show))
        .route(
            "/products/{id}/notifications/rounds/{round}/recipients",
            get(recipients),
        )
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

/// One notified user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Recipient, example = json!({"user_id": 42, "sent_at": "2026-12-14T10:00:00Z"}))]
pub struct RecipientView {
    #[schema(value_type = i64)]
    user_id: UserId,
    sent_at: DateTime<Utc>,
}

/// A product's rounds, newest first (admin or an owning brand).
#[utoipa::path(get, path = "/products/{id}/notifications/rounds", operation_id = "listRounds", tag = "rounds", params(("id" = i64, Path, description = "Product id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of rounds", body = RoundPage),
        NeedsToken, UnknownId, Invalid))]
async fn list(
    State(state): State<AppState>,
    list: ProductPage<ManagedProduct>,
) -> ApiResult<Json<Page<RoundView>>> {
    let page = crate::shop::rounds::list(&state.shop(), list.product.id, &list.page).await?;
    Ok(Json(page.map(RoundView::from)))
}

/// One round (admin or an owning brand).
#[utoipa::path(get, path = "/products/{id}/notifications/rounds/{round}", operation_id = "getRound", tag = "rounds", params(("id" = i64, Path, description = "Product id"), ("round" = i64, Path, description = "Round number")),
    security(("bearer" = [])),
    responses((status = 200, description = "The round", body = RoundView),
        NeedsToken, UnknownId))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, round)): Path<(String, String)>,
) -> ApiResult<Json<RoundView>> {
    let product = load_managed(&state, &caller, &id).await?;
    let at = RoundRef {
        product: product.id,
        round: round_number(&round)?,
    };
    let round = crate::shop::rounds::get(&state.shop(), at)
        .await?
        .ok_or(ApiError::NotFound("round"))?;
    Ok(Json(round.into()))
}

/// The users a round notified, in line order (admin or an owning brand).
#[utoipa::path(get, path = "/products/{id}/notifications/rounds/{round}/recipients", operation_id = "listRoundRecipients", tag = "rounds",
    params(("id" = i64, Path, description = "Product id"), ("round" = i64, Path, description = "Round number"), PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of recipients", body = RecipientPage),
        NeedsToken, UnknownId, Invalid))]
async fn recipients(
    State(state): State<AppState>,
    at: PageOfRound,
) -> ApiResult<Json<Page<RecipientView>>> {
    let page = crate::shop::rounds::recipients(&state.shop(), at.round, &at.page).await?;
    Ok(Json(page.map(|r| RecipientView {
        user_id: r.user_id,
        sent_at: r.sent_at,
    })))
}

page_schema!(RecipientPage, RecipientView);
page_schema!(RoundPage, RoundView);
