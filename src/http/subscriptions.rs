//! The restock-alert line: join, leave, list one's own, and the operators' bulk import.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use axum::response::{IntoResponse, Response};

use super::Created;
use super::access::{AdminProduct, OwnPage, ProductPage, UserOnProduct};
use super::error::{ApiError, ApiResult};
use super::extract::DeferredJson;
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{BadBody, Invalid, NeedsToken, UnknownId};
use crate::domain::ValidationError;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::Page;
use crate::domain::subscription::{ImportOutcome, JoinOutcome, MAX_IMPORT, Subscription};
use crate::shop;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/products/{id}/subscription",
            get(show).put(join).delete(leave),
        )
        .route("/me/subscriptions", get(mine))
        .route("/admin/products/{id}/subscriptions", get(line))
        .route(
            "/admin/products/{id}/subscriptions/import",
            post(import).layer(DefaultBodyLimit::max(super::body::IMPORT_BODY_LIMIT)),
        )
}

/// A place in a line as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Subscription, example = json!({"product_id": 3, "user_id": 42, "active": true,
    "created_at": "2026-12-01T09:30:00Z"}))]
pub struct SubscriptionView {
    #[schema(value_type = i64)]
    product_id: ProductId,
    #[schema(value_type = i64)]
    user_id: UserId,
    active: bool,
    created_at: DateTime<Utc>,
}

impl From<Subscription> for SubscriptionView {
    fn from(s: Subscription) -> Self {
        Self {
            product_id: s.product_id,
            user_id: s.user_id,
            active: s.active,
            created_at: s.created_at,
        }
    }
}

/// The caller's subscription to a product's line with the caller's place in it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SubscriptionPlace, example = json!({"product_id": 3, "user_id": 42, "active": true,
    "created_at": "2026-12-01T09:30:00Z", "place": 17}))]
pub struct PlaceView {
    #[serde(flatten)]
    subscription: SubscriptionView,
    /// 1-based place among the line's active members.
    place: i64,
}

/// The caller's place in the product's line (user); 404 when not in it.
#[utoipa::path(get, path = "/products/{id}/subscription", operation_id = "getMySubscription", tag = "line", params(("id" = i64, Path, description = "Product id")),
    security(("bearer" = [])),
    responses((status = 200, description = "In the line, at this place", body = PlaceView),
        NeedsToken, UnknownId))]
async fn show(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<Json<PlaceView>> {
    let (sub, place) = shop::line::place(&state.shop(), at.product.id, at.user)
        .await?
        .ok_or(ApiError::NotFound("subscription"))?;
    Ok(Json(PlaceView {
        subscription: sub.into(),
        place,
    }))
}

/// Joins the product's line (user); 200 when already in it.
#[utoipa::path(put, path = "/products/{id}/subscription", operation_id = "joinLine", tag = "line", params(("id" = i64, Path, description = "Product id")),
    security(("bearer" = [])),
    responses((status = 201, description = "Joined the line", body = SubscriptionView, headers(("Location" = String, description = "The path of the subscription"))),
        (status = 200, description = "Already in the line", body = SubscriptionView),
        NeedsToken, UnknownId))]
async fn join(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<Response> {
    let (outcome, sub) = shop::line::join(&state.shop(), at.product.id, at.user).await?;
    let view = SubscriptionView::from(sub);
    Ok(match outcome {
        JoinOutcome::Joined => {
            Created(format!("/products/{}/subscription", at.product.id), view).into_response()
        }
        JoinOutcome::AlreadyIn => (StatusCode::OK, Json(view)).into_response(),
    })
}

/// Leaves the product's line (user).
#[utoipa::path(delete, path = "/products/{id}/subscription", operation_id = "leaveLine", tag = "line", params(("id" = i64, Path, description = "Product id")),
    security(("bearer" = [])),
    responses((status = 204, description = "Not in the line any more"),
        NeedsToken, UnknownId))]
async fn leave(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<StatusCode> {
    shop::line::leave(&state.shop(), at.product.id, at.user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's lines (user).
#[utoipa::path(get, path = "/me/subscriptions", operation_id = "listMySubscriptions", tag = "line", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of subscriptions", body = SubscriptionPage),
        NeedsToken, Invalid))]
async fn mine(
    State(state): State<AppState>,
    own: OwnPage,
) -> ApiResult<Json<Page<SubscriptionView>>> {
    let lines = shop::line::of_user(&state.shop(), own.user, &own.page).await?;
    Ok(Json(lines.map(SubscriptionView::from)))
}

/// One place in a product's line, for operators.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LineEntry, example = json!({"user_id": 42, "created_at": "2026-12-01T09:30:00Z"}))]
pub struct LineEntryView {
    #[schema(value_type = i64)]
    user_id: UserId,
    created_at: DateTime<Utc>,
}

/// The product's line, front first (admin).
#[utoipa::path(get, path = "/admin/products/{id}/subscriptions", operation_id = "listLine", tag = "line", params(("id" = i64, Path, description = "Product id"), PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of the line", body = LinePage),
        NeedsToken, UnknownId, Invalid))]
async fn line(
    State(state): State<AppState>,
    list: ProductPage<AdminProduct>,
) -> ApiResult<Json<Page<LineEntryView>>> {
    let members = shop::line::members(&state.shop(), list.product.id, &list.page).await?;
    Ok(Json(members.map(|s| LineEntryView {
        user_id: s.user_id,
        created_at: s.created_at,
    })))
}

/// The body of the line import: user ids in line order, at most 100,000.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"user_ids": [7, 42, 8]}))]
pub struct ImportRequest {
    user_ids: Vec<i64>,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"imported": 2, "already_active": 1}))]
pub struct ImportView {
    imported: u64,
    already_active: u64,
}

/// Appends users to the line in order (admin); those already in it keep their place.
#[utoipa::path(post, path = "/admin/products/{id}/subscriptions/import", operation_id = "importLine", tag = "line", params(("id" = i64, Path, description = "Product id")),
    request_body = ImportRequest, security(("bearer" = [])),
    responses((status = 200, description = "Imported", body = ImportView),
        BadBody, NeedsToken, UnknownId, Invalid))]
async fn import(
    State(state): State<AppState>,
    AdminProduct(product): AdminProduct,
    body: DeferredJson,
) -> ApiResult<Json<ImportView>> {
    let body: ImportRequest = body.parse()?;
    if body.user_ids.len() > MAX_IMPORT {
        return Err(ApiError::Validation(ValidationError::new(
            "user_ids",
            "must hold at most 100000 ids",
        )));
    }
    let users = body
        .user_ids
        .iter()
        .map(|u| UserId::try_from(*u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| ValidationError::new("user_ids", "must hold positive ids"))?;
    let ImportOutcome {
        imported,
        already_active,
    } = shop::line::import(&state.shop(), product.id, &users).await?;
    Ok(Json(ImportView {
        imported,
        already_active,
    }))
}

page_schema!(SubscriptionPage, SubscriptionView);
page_schema!(LinePage, LineEntryView);
