//! Reading rounds: the list, one round, and who a round notified (admin or an owning brand).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::Caller;
use super::openapi::{Invalid, NeedsToken, RecipientPage, RoundPage, UnknownId};
use super::products::load_managed;
use super::query::PageQuery;
use super::rounds::RoundView;
use super::scoped::PageOfRound;
use super::scoped::{ManagedProduct, ProductPage};
use crate::domain::ids::UserId;
use crate::domain::page::Page;
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

/// One notified user.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Recipient, example = json!({"user_id": 42, "sent_at": "2026-12-14T10:00:00Z"}))]
pub struct RecipientView {
    #[schema(value_type = i64)]
    user_id: UserId,
    sent_at: DateTime<Utc>,
}

/// A round number from the path; anything but a positive integer names no round (404).
pub(super) fn round_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|r| *r > 0)
        .ok_or(ApiError::NotFound("round"))
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
    let rows = state.store.list_rounds(list.product.id, &list.page).await?;
    Ok(Json(
        Page::from_rows(rows, &list.page, |r| r.round).map(RoundView::from),
    ))
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
    let round = state
        .store
        .get_round(product.id, round_number(&round)?)
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
    let rows = state
        .store
        .recipients(at.product.id, at.round, &at.page)
        .await?;
    Ok(Json(Page::from_rows(rows, &at.page, |r| r.position).map(
        |r| RecipientView {
            user_id: r.user_id,
            sent_at: r.sent_at,
        },
    )))
}
