//! Orders and payment holds: the storage contract both backends implement, and the row shape.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::clock::from_millis;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, OrderStatus, PaymentRef, Placement, Quantity,
    SaleTerms, Step, Transition,
};
use crate::domain::page::PageRequest;

/// Orders, each state change one transaction that also moves the product's stock.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// In one transaction: replays a known idempotency key, checks the sale window and the
    /// per-user limit, takes the stock, records the reservation and takes the buyer out of
    /// the product's line. Refusals are `Conflict`s; an unknown product is `NotFound`.
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement>;
    /// The order a user placed with `key`, if any.
    async fn order_by_key(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<Order>>;
    /// Reads one order.
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<Order>>;
    /// A user's orders, newest first (`page.after` is the id to continue below).
    async fn user_orders(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Order>>;
    /// Marks a RESERVED order PAID; a passed hold is expired (stock returned) and refused.
    /// `product` is the order's (the caller has read the order): its row is locked first.
    async fn pay_order(
        &self,
        id: OrderId,
        product: ProductId,
        payment: &PaymentRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition>;
    /// Cancels a RESERVED or PAID order, returning its units; a passed hold is expired instead.
    /// `product` is the order's, as for [`OrderStore::pay_order`].
    async fn cancel_order(
        &self,
        id: OrderId,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition>;
    /// Units of a product in RESERVED and PAID orders (stock accounting).
    async fn units_held(&self, product: ProductId) -> StoreResult<i64>;
    /// Expires up to `limit` RESERVED orders whose hold ended by `now` and returns their
    /// units, in one transaction.
    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired>;
}

/// The columns every order query selects, in the order of [`OrderRow`].
macro_rules! order_select {
    ($rest:literal) => {
        concat!(
            "SELECT id, product_id, user_id, quantity, status, created_at, expires_at, paid_at, \
             payment_ref FROM orders ",
            $rest
        )
    };
}
pub(crate) use order_select;

/// An order row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    pub id: i64,
    pub product_id: i64,
    pub user_id: i64,
    pub quantity: i64,
    pub status: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub paid_at: Option<i64>,
    pub payment_ref: Option<String>,
}

impl From<OrderRow> for Order {
    fn from(r: OrderRow) -> Self {
        Order {
            id: OrderId::from_db(r.id),
            product_id: ProductId::from_db(r.product_id),
            user_id: UserId::from_db(r.user_id),
            quantity: Quantity::from_db(r.quantity),
            // The schema's CHECK keeps the status to the four spellings.
            status: OrderStatus::from_db(&r.status).unwrap_or(OrderStatus::Canceled),
            created_at: from_millis(r.created_at),
            expires_at: from_millis(r.expires_at),
            paid_at: r.paid_at.map(from_millis),
            payment_ref: r.payment_ref,
        }
    }
}

/// The sale settings an order is checked against, read under the product's lock.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SaleRow {
    pub sale_starts_at: Option<i64>,
    pub sale_ends_at: Option<i64>,
    pub per_user_limit: i64,
    pub hold_seconds: i64,
    pub sale_mode: String,
}

impl SaleRow {
    /// The window and limit an order is checked against.
    pub fn terms(&self) -> SaleTerms {
        SaleTerms {
            starts_at: self.sale_starts_at,
            ends_at: self.sale_ends_at,
            per_user_limit: self.per_user_limit,
            draw_only: self.sale_mode == "draw",
        }
    }
}

/// A pay or cancel request, as the backends apply it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Change<'a> {
    /// Pay with this reference.
    Pay(&'a PaymentRef),
    /// Cancel.
    Cancel,
}

impl Change<'_> {
    /// What this request must do to `order` as it stands at `now`.
    pub fn step(self, order: &Order, now: DateTime<Utc>) -> Step {
        match self {
            Self::Pay(payment) => order.pay_step(payment, now),
            Self::Cancel => order.cancel_step(now),
        }
    }
}

/// The error when an order kept changing under a conditional update (row locks make this
/// unreachable; it exists so a surprise is a 500, never a wrong answer).
pub(crate) fn lost_race() -> super::StoreError {
    super::StoreError::Internal("order changed during its update")
}

/// Whether a database error is a unique-key violation (a racing retry with the same key).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
