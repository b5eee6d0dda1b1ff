//! The line: who waits for a product's restock alert, in join order.

use chrono::{DateTime, Utc};

use super::ids::{ProductId, UserId};

/// One user's place in one product's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The line's key: ascending ids are join order.
    pub position: i64,
    /// The product.
    pub product_id: ProductId,
    /// The user.
    pub user_id: UserId,
    /// Whether the user is in the line now.
    pub active: bool,
    /// When the user joined (this time).
    pub created_at: DateTime<Utc>,
}

/// What joining the line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOutcome {
    /// The user was not in the line and now is, at the back.
    Joined,
    /// The user was in the line already; the place is kept.
    AlreadyIn,
}

/// Result of a bulk import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportOutcome {
    /// Users newly placed at the back, in the order given.
    pub imported: u64,
    /// Users already in line, whose places were kept.
    pub already_active: u64,
}

/// Most user ids one import call may carry.
pub const MAX_IMPORT: usize = 100_000;
