//! Orders: place one for a product (first come, first served), pay, cancel, read.

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use super::extract::{Body, Caller, OptionalBody, path_id};
use super::query::PageQuery;
use crate::domain::ValidationError;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    IdempotencyKey, Order, OrderRequest, OrderStatus, PaymentRef, Placement, Quantity,
};
use crate::domain::page::Page;
use crate::shop::orders::{self, OrderError};
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/products/{id}/orders", post(place))
        .route("/orders/{id}", get(show))
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/me/orders", get(mine))
}

/// An order as clients see it.
#[derive(Debug, Serialize)]
struct OrderView {
    id: OrderId,
    product_id: ProductId,
    user_id: UserId,
    quantity: Quantity,
    status: OrderStatus,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    paid_at: Option<DateTime<Utc>>,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        Self {
            id: o.id,
            product_id: o.product_id,
            user_id: o.user_id,
            quantity: o.quantity,
            status: o.status,
            created_at: o.created_at,
            expires_at: o.expires_at,
            paid_at: o.paid_at,
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::NotFound(what) => Self::NotFound(what),
            OrderError::Forbidden => Self::Forbidden,
            OrderError::Conflict(c) => Self::Conflict(c),
            OrderError::Store(e) => e.into(),
            OrderError::Gate(e) => {
                tracing::error!(error = %e, "order refused: the shared stock gate is unavailable");
                Self::Unavailable
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct PlaceBody {
    quantity: Option<i64>,
}

/// The optional `Idempotency-Key` header. A malformed key is a value the client chose badly,
/// like a bad body field, so it is a 422 naming the header (not a 400).
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<IdempotencyKey>> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = raw.to_str().map_err(|_| {
        ValidationError::new(
            "Idempotency-Key",
            "must be 1 to 64 visible ASCII characters",
        )
    })?;
    Ok(Some(IdempotencyKey::try_from(text)?))
}

async fn place(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalBody(body): OptionalBody<PlaceBody>,
) -> ApiResult<(StatusCode, Json<OrderView>)> {
    let user = caller.require_user()?;
    let product: ProductId = path_id(&id, "product")?;
    let quantity = Quantity::try_from(body.and_then(|b| b.quantity).unwrap_or(1))?;
    let req = OrderRequest {
        product_id: product,
        user_id: user,
        quantity,
        idempotency_key: idempotency_key(&headers)?,
    };
    // Every answer below is sent after the database committed (or refused) the order.
    Ok(match orders::place(&state, &req).await? {
        Placement::Created(o) => (StatusCode::CREATED, Json(o.into())),
        Placement::Existing(o) => (StatusCode::OK, Json(o.into())),
    })
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let id: OrderId = path_id(&id, "order")?;
    Ok(Json(orders::get(&state, &caller.0, id).await?.into()))
}

#[derive(Debug, Deserialize)]
struct PayBody {
    payment_ref: String,
}

async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<PayBody>,
) -> ApiResult<Json<OrderView>> {
    let id: OrderId = path_id(&id, "order")?;
    let payment = PaymentRef::try_from(body.payment_ref.as_str())?;
    Ok(Json(
        orders::pay(&state, &caller.0, id, &payment).await?.into(),
    ))
}

async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderView>> {
    let id: OrderId = path_id(&id, "order")?;
    Ok(Json(orders::cancel(&state, &caller.0, id).await?.into()))
}

/// The caller's orders, newest first; `next` continues with older ones.
async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Page<OrderView>>> {
    let user = caller.require_user()?;
    let page = q.parse()?;
    let rows = orders::list_mine(&state, user, &page).await?;
    Ok(Json(
        Page::from_rows(rows, &page, |o| o.id.get()).map(OrderView::from),
    ))
}
