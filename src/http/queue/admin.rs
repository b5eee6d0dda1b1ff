//! The waiting room for those who manage the product: its counts, and its members in the
//! room's order with what the order is computed from.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::UserId;
use crate::domain::page::Page;
use crate::domain::queue::{Member, QueueCounts, QueueState};
use crate::http::access::{ManagedProduct, ProductPage};
use crate::http::error::ApiResult;
use crate::http::query::PageQuery;
use crate::http::schemas::page_schema;
use crate::http::schemas::{ErrorBody, Invalid, NeedsToken, UnknownId};
use crate::shop;
use crate::state::AppState;

/// How many members of a room are in each state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QueueCounts, example = json!({"waiting": 950, "admitted": 40, "ordered": 8,
    "expired": 2, "left": 0, "sold_out": 0, "admitted_per_second": [0, 0, 12, 3]}))]
pub struct QueueCountsView {
    waiting: i64,
    admitted: i64,
    ordered: i64,
    expired: i64,
    left: i64,
    sold_out: i64,
    /// Admissions made in each of the last 60 whole seconds, oldest first; the last entry is
    /// the current second.
    admitted_per_second: Vec<i64>,
}

impl QueueCountsView {
    fn new(c: QueueCounts, admitted_per_second: Vec<i64>) -> Self {
        Self {
            waiting: c.waiting,
            admitted: c.admitted,
            ordered: c.ordered,
            expired: c.expired,
            left: c.left,
            sold_out: c.sold_out,
            admitted_per_second,
        }
    }
}

/// A member of a room, with the inputs of its place: who joined before the sale is ranked
/// by `rank_key` = SHA-256 of `"{queue_seed}:{user_id}"` ascending, the rest follow in join
/// order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QueueMember, example = json!({"user_id": 42, "state": "WAITING",
    "joined_before_start": true, "rank_key": "0a3f…", "joined_at": "2026-12-14T09:50:00Z",
    "admitted_until": null}))]
pub struct QueueMemberView {
    #[schema(value_type = i64)]
    user_id: UserId,
    state: QueueState,
    /// Whether the member joined before `sale_starts_at` (ranked by `rank_key`).
    joined_before_start: bool,
    /// Lowercase hex SHA-256 of `"{queue_seed}:{user_id}"`; null for a later joiner.
    #[schema(required = true)]
    rank_key: Option<String>,
    joined_at: DateTime<Utc>,
    /// Until when the admission lasts (or lasted); null before one.
    #[schema(required = true)]
    admitted_until: Option<DateTime<Utc>>,
}

impl QueueMemberView {
    fn new(m: Member, sale_starts_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Self {
        Self {
            user_id: m.user_id,
            state: m.state(sale_starts_at, now),
            joined_before_start: m.early,
            rank_key: Some(m.rank_key).filter(|_| m.early),
            joined_at: m.joined_at,
            admitted_until: m.admitted_until,
        }
    }
}

page_schema!(QueueMemberPage, QueueMemberView);

/// The counts of a product's waiting room (admin or an owning brand).
#[utoipa::path(get, path = "/admin/products/{id}/queue", operation_id = "getQueueCounts", tag = "queue",
    params(("id" = i64, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 200, description = "The counts", body = QueueCountsView),
        (status = 422, description = "`not_queued`: the product has no waiting room", body = ErrorBody),
        NeedsToken, UnknownId))]
pub(super) async fn counts(
    State(state): State<AppState>,
    ManagedProduct(product): ManagedProduct,
) -> ApiResult<Json<QueueCountsView>> {
    let shop = state.shop();
    let counts = shop::queue::counts(&shop, &product).await?;
    let seconds = shop::queue::admissions_per_second(&shop, &product).await?;
    Ok(Json(QueueCountsView::new(counts, seconds)))
}

/// The members of a product's waiting room in its order (admin or an owning brand).
#[utoipa::path(get, path = "/admin/products/{id}/queue/members", operation_id = "listQueueMembers", tag = "queue",
    params(("id" = i64, Path, description = "Product id"), PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of members", body = QueueMemberPage),
        (status = 422, description = "`not_queued`, or a bad page value", body = ErrorBody),
        NeedsToken, UnknownId, Invalid))]
pub(super) async fn members(
    State(state): State<AppState>,
    list: ProductPage<ManagedProduct>,
) -> ApiResult<Json<Page<QueueMemberView>>> {
    let members = shop::queue::members(&state.shop(), &list.product, &list.page).await?;
    let (starts, now) = (list.product.sale_starts_at, state.clock.now());
    Ok(Json(members.map(|m| QueueMemberView::new(m, starts, now))))
}
