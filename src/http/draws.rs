//! Draws: enter and withdraw, one's own entries, a product's draw and its entry list.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Created;
use super::access::load;
use super::access::{ManagedProduct, OwnPage, ProductPage, UserOnProduct};
use super::error::{ApiError, ApiResult};
use super::extract::{Caller, OptionalBody};
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{BadBody, ErrorBody, Invalid, NeedsToken, UnknownId};
use crate::domain::Conflict;
use crate::domain::draws::{DrawRecord, DrawStatus, Entry, EntryOutcome, EntryStatus};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Quantity;
use crate::domain::page::Page;
use crate::shop;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/entry", put(enter).delete(withdraw))
        .route("/me/entries", get(mine))
        .route("/products/{id}/draw", get(draw))
        .route("/products/{id}/draw/entries", get(entries))
}

/// An entry in a product's draw as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Entry, example = json!({"product_id": 3, "user_id": 42, "quantity": 1,
    "status": "WON", "rank": 7, "order_id": 120, "created_at": "2026-12-14T10:00:05Z"}))]
pub struct EntryView {
    #[schema(value_type = i64)]
    product_id: ProductId,
    #[schema(value_type = i64)]
    user_id: UserId,
    #[schema(value_type = i64, minimum = 1)]
    quantity: Quantity,
    status: EntryStatus,
    /// 1-based rank; null before the draw and for withdrawn entries.
    #[schema(required = true)]
    rank: Option<i64>,
    /// The order a win placed; null otherwise.
    #[schema(value_type = Option<i64>, required = true)]
    order_id: Option<OrderId>,
    created_at: DateTime<Utc>,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        Self {
            product_id: e.product_id,
            user_id: e.user_id,
            quantity: e.quantity,
            status: e.status,
            rank: e.rank,
            order_id: e.order_id,
            created_at: e.created_at,
        }
    }
}

/// A product's draw: its commitment before, its seed and digest after.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Draw, example = json!({"product_id": 3, "status": "DRAWN", "entries": 1200,
    "seed_hash": "5f1d…", "seed": "9c0e…", "drawn_at": "2026-12-14T12:00:01Z",
    "entries_digest": "a41b…", "units": 105}))]
pub struct DrawView {
    #[schema(value_type = i64)]
    product_id: ProductId,
    status: DrawStatus,
    /// Entries taking part (not withdrawn).
    entries: i64,
    /// Lowercase hex SHA-256 of the seed, published before the window opens.
    seed_hash: String,
    /// The seed, 64 lowercase hex digits; null until DRAWN.
    #[schema(required = true)]
    seed: Option<String>,
    /// Null until DRAWN.
    #[schema(required = true)]
    drawn_at: Option<DateTime<Utc>>,
    /// SHA-256 of the `"{user_id}:{quantity}\n"` lines of the entries by user id; null until DRAWN.
    #[schema(required = true)]
    entries_digest: Option<String>,
    /// The units drawn for: the product's free stock when the draw ran (restocks during the
    /// window count); going down the ranks, the winners are the entries that fit in them.
    /// Null until DRAWN (and for a draw that ran before the units were recorded).
    #[schema(required = true)]
    units: Option<i64>,
}

impl DrawView {
    fn new(d: DrawRecord, now: DateTime<Utc>) -> Self {
        let status = d.status(now);
        Self {
            product_id: d.product_id,
            status,
            entries: d.entries,
            seed_hash: d.seed_hash.unwrap_or_default(),
            seed: d.seed.filter(|_| status == DrawStatus::Drawn),
            drawn_at: d.drawn_at,
            entries_digest: d.entries_digest,
            units: d.units.filter(|_| status == DrawStatus::Drawn),
        }
    }
}

/// The optional body of `PUT /products/{id}/entry`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"quantity": 1}))]
pub struct EntryBody {
    /// 1..=per_user_limit, default 1.
    #[schema(minimum = 1)]
    quantity: Option<i64>,
}

/// Enters the product's draw (user), or replaces the quantity of the entry.
#[utoipa::path(put, path = "/products/{id}/entry", operation_id = "enterDraw", tag = "draws",
    params(("id" = i64, Path, description = "Product id")),
    request_body(content = Option<EntryBody>), security(("bearer" = [])),
    responses((status = 201, description = "Entered", body = EntryView, headers(("Location" = String, description = "The path of the entry"))),
        (status = 200, description = "Already entered: the quantity was replaced", body = EntryView),
        (status = 409, description = "`entry_closed` outside the window, `not_a_draw`", body = ErrorBody),
        BadBody, NeedsToken, UnknownId, Invalid))]
async fn enter(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalBody(body): OptionalBody<EntryBody>,
) -> ApiResult<Response> {
    let user = caller.require_user()?;
    let product = load(&state, &id).await?;
    let quantity = Quantity::try_from(body.and_then(|b| b.quantity).unwrap_or(1))?;
    let (outcome, entry) = shop::draws::enter(&state.shop(), product.id, user, quantity)
        .await
        .map_err(not_found_is_product)?;
    let view = EntryView::from(entry);
    Ok(match outcome {
        EntryOutcome::Entered => {
            Created(format!("/products/{}/entry", product.id), view).into_response()
        }
        EntryOutcome::Replaced => (StatusCode::OK, Json(view)).into_response(),
    })
}

/// Withdraws from the product's draw (user); also when not entered.
#[utoipa::path(delete, path = "/products/{id}/entry", operation_id = "withdrawFromDraw", tag = "draws",
    params(("id" = i64, Path, description = "Product id")), security(("bearer" = [])),
    responses((status = 204, description = "Not entered any more"),
        (status = 409, description = "`entry_closed` after the window, `not_a_draw`", body = ErrorBody),
        NeedsToken, UnknownId))]
async fn withdraw(State(state): State<AppState>, at: UserOnProduct) -> ApiResult<StatusCode> {
    shop::draws::withdraw(&state.shop(), at.product.id, at.user)
        .await
        .map_err(not_found_is_product)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's entries (user), newest first.
#[utoipa::path(get, path = "/me/entries", operation_id = "listMyEntries", tag = "draws", params(PageQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of entries", body = EntryPage),
        NeedsToken, Invalid))]
async fn mine(State(state): State<AppState>, own: OwnPage) -> ApiResult<Json<Page<EntryView>>> {
    let entries = shop::draws::entries_of_user(&state.shop(), own.user, &own.page).await?;
    Ok(Json(entries.map(EntryView::from)))
}

/// A product's draw (public): the seed's hash before, the seed and the digest after.
#[utoipa::path(get, path = "/products/{id}/draw", operation_id = "getDraw", tag = "draws",
    params(("id" = i64, Path, description = "Product id")),
    responses((status = 200, description = "The draw", body = DrawView),
        (status = 409, description = "`not_a_draw`: the product is sold first come", body = ErrorBody),
        UnknownId))]
async fn draw(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<DrawView>> {
    let product = load(&state, &id).await?;
    let record = shop::draws::record(&state.shop(), product.id)
        .await
        .map_err(not_found_is_product)?
        .ok_or(Conflict::NotADraw)?;
    Ok(Json(DrawView::new(record, state.clock.now())))
}

/// A product's entries (admin or an owning brand): by rank after the draw (withdrawn ones
/// last), by user id before.
#[utoipa::path(get, path = "/products/{id}/draw/entries", operation_id = "listDrawEntries", tag = "draws",
    params(("id" = i64, Path, description = "Product id"), PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of entries", body = EntryPage),
        (status = 409, description = "`not_a_draw`: the product is sold first come", body = ErrorBody),
        NeedsToken, UnknownId, Invalid))]
async fn entries(
    State(state): State<AppState>,
    list: ProductPage<ManagedProduct>,
) -> ApiResult<Json<Page<EntryView>>> {
    if list.product.sale_mode != crate::domain::draws::SaleMode::Draw {
        return Err(Conflict::NotADraw.into());
    }
    let entries = shop::draws::entries(&state.shop(), list.product.id, &list.page)
        .await
        .map_err(not_found_is_product)?;
    Ok(Json(entries.map(EntryView::from)))
}

fn not_found_is_product(e: crate::store::StoreError) -> ApiError {
    match e {
        crate::store::StoreError::NotFound => ApiError::NotFound("product"),
        other => other.into(),
    }
}

page_schema!(EntryPage, EntryView);
