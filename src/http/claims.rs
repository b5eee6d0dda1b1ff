//! Claims: a claim round's claims in the order made (admin or an owning brand), and a
//! user's own claims across products.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::access::{OwnPage, PageOfRound};
use super::error::ApiResult;
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{Invalid, NeedsToken, UnknownId};
use crate::domain::claim::{Claim, ClaimStatus};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::page::Page;
use crate::shop;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/products/{id}/notifications/rounds/{round}/claims",
            get(round_claims),
        )
        .route("/me/claims", get(mine))
}

/// One claim of a round.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Claim, example = json!({"user_id": 42, "position": 1, "status": "USED",
    "created_at": "2026-12-14T10:00:00Z", "expires_at": "2026-12-14T10:10:00Z", "order_id": 12}))]
pub struct ClaimView {
    #[schema(value_type = i64)]
    user_id: UserId,
    /// 1-based place among the round's claims.
    position: i64,
    status: ClaimStatus,
    /// When the claim was made and its alert sent.
    created_at: DateTime<Utc>,
    /// Until when the unit is set aside.
    expires_at: DateTime<Utc>,
    /// The order the claim went into; null unless `USED`.
    #[schema(value_type = Option<i64>, required = true)]
    order_id: Option<OrderId>,
}

impl From<&Claim> for ClaimView {
    fn from(c: &Claim) -> Self {
        Self {
            user_id: c.holder.user_id,
            position: c.holder.position,
            status: c.state.status,
            created_at: c.state.created_at,
            expires_at: c.state.expires_at,
            order_id: c.state.order_id,
        }
    }
}

/// One of the caller's claims.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = MyClaim, example = json!({"product_id": 3, "round": 2, "user_id": 42,
    "position": 1, "status": "OPEN", "created_at": "2026-12-14T10:00:00Z",
    "expires_at": "2026-12-14T10:10:00Z", "order_id": null}))]
pub struct MyClaimView {
    #[schema(value_type = i64)]
    product_id: ProductId,
    /// The round that made it.
    round: i64,
    #[serde(flatten)]
    claim: ClaimView,
}

/// A claim round's claims in the order made (admin or an owning brand).
#[utoipa::path(get, path = "/products/{id}/notifications/rounds/{round}/claims", operation_id = "listRoundClaims", tag = "rounds",
    params(("id" = i64, Path, description = "Product id"), ("round" = i64, Path, description = "Round number"), PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of claims", body = ClaimPage),
        NeedsToken, UnknownId, Invalid))]
async fn round_claims(
    State(state): State<AppState>,
    at: PageOfRound,
) -> ApiResult<Json<Page<ClaimView>>> {
    let claims = shop::claims::of_round(&state.shop(), at.round, &at.page).await?;
    Ok(Json(claims.map(|c| ClaimView::from(&c))))
}

/// The caller's claims across products, newest first (user).
#[utoipa::path(get, path = "/me/claims", operation_id = "listMyClaims", tag = "line", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of claims", body = MyClaimPage),
        NeedsToken, Invalid))]
async fn mine(State(state): State<AppState>, own: OwnPage) -> ApiResult<Json<Page<MyClaimView>>> {
    let claims = shop::claims::of_user(&state.shop(), own.user, &own.page).await?;
    Ok(Json(claims.map(|c| MyClaimView {
        product_id: c.product_id,
        round: c.round,
        claim: ClaimView::from(&c),
    })))
}

page_schema!(ClaimPage, ClaimView);
page_schema!(MyClaimPage, MyClaimView);
