//! The restock-alert line: join, leave, list one's own, and the operators' bulk import.

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{Body, Caller};
use super::products::load;
use super::query::PageQuery;
use crate::domain::ValidationError;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::Page;
use crate::domain::subscription::{ImportOutcome, JoinOutcome, MAX_IMPORT, Subscription};
use crate::state::AppState;

/// Largest import body: 100,000 ids of up to 19 digits, with separators and slack.
pub const IMPORT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/subscription", put(join).delete(leave))
        .route("/me/subscriptions", get(mine))
        .route("/admin/products/{id}/subscriptions", get(line))
        .route(
            "/admin/products/{id}/subscriptions/import",
            post(import).layer(DefaultBodyLimit::max(IMPORT_BODY_LIMIT)),
        )
}

/// A place in a line as clients see it.
#[derive(Debug, Serialize)]
struct SubscriptionView {
    product_id: ProductId,
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

async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<SubscriptionView>)> {
    let user = caller.require_user()?;
    let product = load(&state, &id).await?;
    let (outcome, sub) = state
        .store
        .join_line(product.id, user, state.clock.now())
        .await?;
    let status = match outcome {
        JoinOutcome::Joined => StatusCode::CREATED,
        JoinOutcome::AlreadyIn => StatusCode::OK,
    };
    Ok((status, Json(sub.into())))
}

async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let user = caller.require_user()?;
    let product = load(&state, &id).await?;
    state
        .store
        .leave_line(product.id, user, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<SubscriptionView>>> {
    let user = caller.require_user()?;
    let page = q.parse()?;
    let rows = state.store.user_subscriptions(user, &page).await?;
    Ok(Json(
        Page::from_rows(rows, &page, |s| s.position).map(SubscriptionView::from),
    ))
}

/// One place in a product's line, for operators.
#[derive(Debug, Serialize)]
struct LineEntryView {
    user_id: UserId,
    created_at: DateTime<Utc>,
}

/// The product's line, front first (admin).
async fn line(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<LineEntryView>>> {
    caller.require_admin()?;
    let product = load(&state, &id).await?;
    let page = q.parse()?;
    let rows = state
        .store
        .line_page(product.id, page.after.unwrap_or(0), i64::MAX, page.fetch())
        .await?;
    Ok(Json(Page::from_rows(rows, &page, |s| s.position).map(
        |s| LineEntryView {
            user_id: s.user_id,
            created_at: s.created_at,
        },
    )))
}

#[derive(Debug, Deserialize)]
struct ImportRequest {
    user_ids: Vec<i64>,
}

#[derive(Debug, Serialize)]
struct ImportView {
    imported: u64,
    already_active: u64,
}

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<ImportRequest>,
) -> ApiResult<Json<ImportView>> {
    caller.require_admin()?;
    let product = load(&state, &id).await?;
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
    } = state
        .store
        .import_line(product.id, &users, state.clock.now())
        .await?;
    Ok(Json(ImportView {
        imported,
        already_active,
    }))
}
