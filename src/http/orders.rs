//! Orders: place one for a product (first come, first served), pay, cancel, read.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use axum::response::{IntoResponse, Response};

use super::Created;
use super::access::OwnPage;
use super::error::{ApiError, ApiResult};
use super::extract::{Body, Caller, OptionalBody, OrderPath, path_id};
use super::query::PageQuery;
use super::schemas::page_schema;
use super::schemas::{BadBody, Busy, Invalid, NeedsToken, Refused, UnknownId};
use crate::domain::ValidationError;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    IdempotencyKey, Order, OrderRequest, OrderStatus, PaymentRef, Placement, Quantity,
};
use crate::domain::page::Page;
use crate::shop::orders::{self, OrderError};
use crate::state::AppState;
use crate::telemetry::metrics;

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
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order, example = json!({"id": 12, "product_id": 3, "user_id": 42, "quantity": 1,
    "status": "RESERVED", "created_at": "2026-12-14T10:00:01Z",
    "expires_at": "2026-12-14T10:30:01Z", "paid_at": null}))]
pub struct OrderView {
    #[schema(value_type = i64)]
    id: OrderId,
    #[schema(value_type = i64)]
    product_id: ProductId,
    #[schema(value_type = i64)]
    user_id: UserId,
    #[schema(value_type = i64, minimum = 1)]
    quantity: Quantity,
    status: OrderStatus,
    created_at: DateTime<Utc>,
    /// When the payment hold ends.
    expires_at: DateTime<Utc>,
    /// Null until paid.
    #[schema(required = true)]
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
            OrderError::AdmissionRequired => Self::AdmissionRequired,
            OrderError::Conflict(c) => Self::Conflict(c),
            OrderError::Store(e) => e.into(),
            OrderError::Interrupted(e) => Self::Internal(e.to_string()),
            OrderError::Gate(e) => {
                tracing::error!(error = %e, "order refused: the shared stock gate is unavailable");
                Self::Unavailable
            }
        }
    }
}

/// The optional body of `POST /products/{id}/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"quantity": 1}))]
pub struct PlaceBody {
    /// Default 1.
    #[schema(minimum = 1)]
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

/// Places an order (user): reserves stock and holds it for payment.
#[utoipa::path(post, path = "/products/{id}/orders", operation_id = "placeOrder", tag = "orders", params(("id" = i64, Path, description = "Product id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1..=64 visible ASCII characters")),
    request_body(content = Option<PlaceBody>), security(("bearer" = [])),
    responses((status = 201, description = "Reserved", body = OrderView, headers(("Location" = String, description = "The path of the order"))),
        (status = 200, description = "The order this idempotency key already placed", body = OrderView),
        BadBody, NeedsToken, UnknownId, Refused, Invalid, Busy))]
async fn place(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    OptionalBody(body): OptionalBody<PlaceBody>,
) -> ApiResult<Response> {
    let user = caller.require_user()?;
    let product: ProductId = path_id(&id, "product")?;
    let quantity = Quantity::try_from(body.and_then(|b| b.quantity).unwrap_or(1))?;
    let req = OrderRequest {
        product_id: product,
        user_id: user,
        quantity,
        idempotency_key: idempotency_key(&headers)?,
    };
    let placed = orders::place(&state.shop(), &req).await;
    metrics::order(match &placed {
        Ok(Placement::Created(..)) => "reserved",
        Ok(Placement::Existing(_)) => "replayed",
        Err(OrderError::Conflict(c)) => c.code(),
        Err(_) => "failed",
    });
    // Every answer below is sent after the database committed (or refused) the order.
    Ok(match placed? {
        Placement::Created(o, _) => {
            Created(format!("/orders/{}", o.id), OrderView::from(o)).into_response()
        }
        Placement::Existing(o) => (StatusCode::OK, Json(OrderView::from(o))).into_response(),
    })
}

/// Reads an order (its user, or admin).
#[utoipa::path(get, path = "/orders/{id}", operation_id = "getOrder", tag = "orders", params(("id" = i64, Path, description = "Order id")), security(("bearer" = [])),
    responses((status = 200, description = "The order", body = OrderView),
        NeedsToken, UnknownId))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    OrderPath(id): OrderPath,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        orders::get(&state.shop(), &caller.0, id).await?.into(),
    ))
}

/// The body of `POST /orders/{id}/pay`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"payment_ref": "pay_8f3a2c"}))]
pub struct PayBody {
    payment_ref: String,
}

/// Pays a reserved order (its user); idempotent for the same `payment_ref`.
#[utoipa::path(post, path = "/orders/{id}/pay", operation_id = "payOrder", tag = "orders", params(("id" = i64, Path, description = "Order id")), request_body = PayBody,
    security(("bearer" = [])),
    responses((status = 200, description = "Paid", body = OrderView),
        BadBody, NeedsToken, UnknownId, Refused, Invalid, Busy))]
async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<PayBody>,
) -> ApiResult<Json<OrderView>> {
    let id: OrderId = path_id(&id, "order")?;
    let payment = PaymentRef::try_from(body.payment_ref.as_str())?;
    let paid = orders::pay(&state.shop(), &caller.0, id, &payment).await?;
    metrics::order("paid");
    Ok(Json(paid.into()))
}

/// Cancels an order (its user, or admin); its units return to stock. Idempotent.
#[utoipa::path(post, path = "/orders/{id}/cancel", operation_id = "cancelOrder", tag = "orders", params(("id" = i64, Path, description = "Order id")), security(("bearer" = [])),
    responses((status = 200, description = "Canceled", body = OrderView),
        NeedsToken, UnknownId, Refused, Busy))]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    OrderPath(id): OrderPath,
) -> ApiResult<Json<OrderView>> {
    let canceled = orders::cancel(&state.shop(), &caller.0, id).await?;
    metrics::order("canceled");
    Ok(Json(canceled.into()))
}

/// The caller's orders, newest first; `next` continues with older ones.
#[utoipa::path(get, path = "/me/orders", operation_id = "listMyOrders", tag = "orders", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, description = "A page of orders", body = OrderPage),
        NeedsToken, Invalid))]
async fn mine(State(state): State<AppState>, own: OwnPage) -> ApiResult<Json<Page<OrderView>>> {
    let rows = orders::list_mine(&state.shop(), own.user, &own.page).await?;
    Ok(Json(
        Page::from_rows(rows, &own.page, |o| o.id.get()).map(OrderView::from),
    ))
}

page_schema!(OrderPage, OrderView);
