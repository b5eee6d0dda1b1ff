//! A draw's entries: how a product is sold, and one user's entry with where it stands.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Quantity;

named_setting! {
    /// How a product is sold.
    pub enum SaleMode for "sale_mode", "must be first_come or draw" {
        /// Orders are served first come, first served.
        #[default]
        FirstCome = "first_come",
        /// Buyers enter during the sale window; winners are drawn when it closes.
        Draw = "draw",
    }
}

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryStatus {
    /// Entered; the draw has not run.
    Entered,
    /// Won: a RESERVED order was placed for it.
    Won,
    /// Did not win (yet): units that come back go down the waitlist by rank.
    Waitlisted,
    /// Withdrawn during the window: takes no part in the draw.
    Withdrawn,
}

impl EntryStatus {
    /// The storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entered => "ENTERED",
            Self::Won => "WON",
            Self::Waitlisted => "WAITLISTED",
            Self::Withdrawn => "WITHDRAWN",
        }
    }

    /// Reads the stored spelling.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "WON" => Self::Won,
            "WAITLISTED" => Self::Waitlisted,
            "WITHDRAWN" => Self::Withdrawn,
            _ => Self::Entered,
        }
    }
}

/// One user's entry in one product's draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The product drawn.
    pub product_id: ProductId,
    /// Who entered.
    pub user_id: UserId,
    /// Units asked for (all or nothing).
    pub quantity: Quantity,
    /// Where it stands.
    pub status: EntryStatus,
    /// 1-based rank, set by the draw (null for withdrawn entries).
    pub rank: Option<i64>,
    /// The order it won.
    pub order_id: Option<OrderId>,
    /// When the user entered.
    pub created_at: DateTime<Utc>,
    /// Keyset position in its listing (store-internal).
    pub cursor: i64,
}

/// Whether an entry was new or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    /// The user was not entered (or had withdrawn).
    Entered,
    /// The user was entered already; the quantity was replaced.
    Replaced,
}
