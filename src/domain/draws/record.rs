//! A product's draw as the store keeps it, and what a draw (or a waitlist promotion)
//! commits: the winners' orders.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Quantity;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DrawStatus {
    /// The entry window is open (or not open yet).
    Open,
    /// The window has closed; the draw has not run yet.
    Closed,
    /// The draw has run; the seed is revealed.
    Drawn,
}

/// A product's draw as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrawRecord {
    /// The product.
    pub product_id: ProductId,
    /// The end of the entry window.
    pub ends_at: Option<DateTime<Utc>>,
    /// The secret seed (revealed only once drawn).
    pub seed: Option<String>,
    /// SHA-256 of the seed.
    pub seed_hash: Option<String>,
    /// When the draw ran.
    pub drawn_at: Option<DateTime<Utc>>,
    /// Entries that took part (once drawn), else the entries so far (not withdrawn).
    pub entries: i64,
    /// The digest of the entry list (once drawn).
    pub entries_digest: Option<String>,
    /// The units drawn for: the product's free stock when the draw ran (once drawn).
    pub units: Option<i64>,
}

impl DrawRecord {
    /// The status at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> DrawStatus {
        if self.drawn_at.is_some() {
            DrawStatus::Drawn
        } else if self.ends_at.is_some_and(|end| now >= end) {
            DrawStatus::Closed
        } else {
            DrawStatus::Open
        }
    }
}

/// A winner's order, as the draw or a waitlist promotion placed it (for the notification,
/// whose body carries all of it but the rank).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Win {
    /// The product.
    pub product_id: ProductId,
    /// The winner.
    pub user_id: UserId,
    /// The new order.
    pub order_id: OrderId,
    /// Its quantity.
    pub quantity: Quantity,
    /// When its hold ends.
    pub expires_at: DateTime<Utc>,
    /// The entry's rank.
    #[serde(skip)]
    pub rank: i64,
}

/// What one draw (or promotion) committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrawOutcome {
    /// The new orders, in rank order.
    pub wins: Vec<Win>,
    /// Units the new orders took from free stock.
    pub units: i64,
    /// The product's stock version after the change.
    pub stock_version: i64,
}
