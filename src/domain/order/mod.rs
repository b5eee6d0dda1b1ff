//! Orders: a reservation that holds stock while the buyer pays; the values a buyer sends
//! with one, checked, are in `input.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::Conflict;
use crate::domain::ids::{OrderId, ProductId, UserId};

mod input;

pub use input::{IdempotencyKey, PaymentRef, Quantity};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Stock is held while the buyer pays.
    Reserved,
    /// Paid; the units are sold.
    Paid,
    /// Canceled by the buyer or an operator; units returned.
    Canceled,
    /// The hold passed unpaid; units returned.
    Expired,
}

impl OrderStatus {
    /// The storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Paid => "PAID",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }

    /// Reads the stored spelling.
    pub fn from_db(raw: &str) -> Option<Self> {
        match raw {
            "RESERVED" => Some(Self::Reserved),
            "PAID" => Some(Self::Paid),
            "CANCELED" => Some(Self::Canceled),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Its id.
    pub id: OrderId,
    /// What was ordered.
    pub product_id: ProductId,
    /// Who ordered.
    pub user_id: UserId,
    /// How many units.
    pub quantity: Quantity,
    /// Where it is in its life.
    pub status: OrderStatus,
    /// When it was placed.
    pub created_at: DateTime<Utc>,
    /// When the hold ends.
    pub expires_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// The payment reference given at pay time.
    pub payment_ref: Option<String>,
}

/// An order a buyer asks for, already parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    /// What to order.
    pub product_id: ProductId,
    /// Who orders.
    pub user_id: UserId,
    /// How many units.
    pub quantity: Quantity,
    /// The client's retry key, if it sent one.
    pub idempotency_key: Option<IdempotencyKey>,
}

impl OrderRequest {
    /// Decides what a stored order with the same key means for this request: the same
    /// request again (a retry), or a different one (the key was reused).
    pub fn replay(&self, existing: Order) -> Result<Placement, Conflict> {
        if existing.product_id == self.product_id
            && existing.quantity == self.quantity
            && existing.user_id == self.user_id
        {
            Ok(Placement::Existing(existing))
        } else {
            Err(Conflict::IdempotencyKeyReused)
        }
    }
}

/// The sale rules an order is checked against, in epoch milliseconds as the stores keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleTerms {
    /// Orders are refused before this instant, if set.
    pub starts_at: Option<i64>,
    /// Orders are refused from this instant on, if set.
    pub ends_at: Option<i64>,
    /// Most units one buyer may hold (RESERVED and PAID) at once.
    pub per_user_limit: i64,
    /// The product is sold by draw: no order may be placed for it.
    pub draw_only: bool,
}

impl SaleTerms {
    /// Refuses an order placed at `now_ms` outside the sale window, or one that would take a
    /// buyer who already holds `held` units past the per-user limit. Stock is not its concern.
    pub fn admit(&self, now_ms: i64, held: i64, quantity: Quantity) -> Result<(), Conflict> {
        if self.draw_only {
            return Err(Conflict::DrawOnly);
        }
        if self.starts_at.is_some_and(|t| now_ms < t) {
            return Err(Conflict::SaleNotStarted);
        }
        if self.ends_at.is_some_and(|t| now_ms >= t) {
            return Err(Conflict::SaleEnded);
        }
        if held + quantity.get() > self.per_user_limit {
            return Err(Conflict::PurchaseLimitExceeded);
        }
        Ok(())
    }
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A new order took the stock; the product's stock version after the commit.
    Created(Order, StockVersion),
    /// A retry with a known key: the order placed before, unchanged.
    Existing(Order),
}

/// The result of asking to pay or cancel an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The order after the step.
    pub order: Order,
    /// Units the step gave back to stock (0 when none).
    pub returned: i64,
    /// Why the request was refused, if it was; the step may still have expired the hold.
    pub refused: Option<Conflict>,
    /// The product's stock version after the step (meaningful when `returned > 0`).
    pub stock_version: StockVersion,
}

/// A product's stock version: bumped in the same transaction as every change of its stock,
/// so a shared counter can tell which changes it already reflects.
pub type StockVersion = i64;

/// Units one committed change gave back to a product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Returned {
    /// The product.
    pub product: ProductId,
    /// How many units.
    pub units: i64,
    /// The product's stock version after the change.
    pub stock_version: StockVersion,
}

/// What one sweep of due holds did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// How many orders went from RESERVED to EXPIRED.
    pub orders: usize,
    /// Units returned to stock, per product.
    pub returned: Vec<Returned>,
}

/// What a pay or cancel request must do to an order as it stands (read under its lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Change nothing; answer with the order, refused for this reason if there is one.
    Answer(Option<Conflict>),
    /// The hold has passed: expire the order, return its units, refuse the request.
    Expire,
    /// Make the change the request asks for.
    Apply,
}

impl Order {
    /// Whether the hold of a RESERVED order has passed at `now`.
    pub fn hold_passed(&self, now: DateTime<Utc>) -> bool {
        self.status == OrderStatus::Reserved && self.expires_at <= now
    }

    /// How to pay this order with `payment` at `now`: the same reference twice is a no-op.
    pub fn pay_step(&self, payment: &PaymentRef, now: DateTime<Utc>) -> Step {
        match self.status {
            OrderStatus::Paid if self.payment_ref.as_deref() == Some(payment.as_str()) => {
                Step::Answer(None)
            }
            OrderStatus::Paid => Step::Answer(Some(Conflict::AlreadyPaid)),
            OrderStatus::Canceled => Step::Answer(Some(Conflict::OrderCanceled)),
            OrderStatus::Expired => Step::Answer(Some(Conflict::ReservationExpired)),
            OrderStatus::Reserved if self.hold_passed(now) => Step::Expire,
            OrderStatus::Reserved => Step::Apply,
        }
    }

    /// How to cancel this order at `now`: canceling twice is a no-op, an expired hold stays expired.
    pub fn cancel_step(&self, now: DateTime<Utc>) -> Step {
        match self.status {
            OrderStatus::Canceled => Step::Answer(None),
            OrderStatus::Expired => Step::Answer(Some(Conflict::ReservationExpired)),
            OrderStatus::Reserved if self.hold_passed(now) => Step::Expire,
            OrderStatus::Reserved | OrderStatus::Paid => Step::Apply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sale_window_opens_at_its_start_and_closes_at_its_end() {
        let terms = SaleTerms {
            starts_at: Some(100),
            ends_at: Some(200),
            per_user_limit: 2,
            draw_only: false,
        };
        let one = Quantity::from_db(1);
        assert_eq!(terms.admit(99, 0, one), Err(Conflict::SaleNotStarted));
        assert_eq!(terms.admit(100, 0, one), Ok(()));
        assert_eq!(terms.admit(199, 0, one), Ok(()));
        assert_eq!(terms.admit(200, 0, one), Err(Conflict::SaleEnded));
        let open = SaleTerms {
            starts_at: None,
            ends_at: None,
            per_user_limit: 2,
            draw_only: false,
        };
        assert_eq!(open.admit(i64::MIN, 0, one), Ok(()));
        assert_eq!(open.admit(i64::MAX, 0, one), Ok(()));
    }

    #[test]
    fn the_per_user_limit_counts_what_the_buyer_already_holds() {
        let terms = SaleTerms {
            starts_at: None,
            ends_at: None,
            per_user_limit: 3,
            draw_only: false,
        };
        assert_eq!(terms.admit(0, 0, Quantity::from_db(3)), Ok(()));
        assert_eq!(terms.admit(0, 2, Quantity::from_db(1)), Ok(()));
        assert_eq!(
            terms.admit(0, 2, Quantity::from_db(2)),
            Err(Conflict::PurchaseLimitExceeded)
        );
        // A closed window is reported before the limit.
        let closed = SaleTerms {
            ends_at: Some(0),
            ..terms
        };
        assert_eq!(
            closed.admit(0, 3, Quantity::from_db(1)),
            Err(Conflict::SaleEnded)
        );
    }
}
