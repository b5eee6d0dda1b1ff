//! The waiting room of a first-come product: its settings, a member and its state, and the
//! rules of admission.
//!
//! Who joined before the sale started is ranked by the draws' rule (ascending SHA-256 of
//! `"{seed}:{user_id}"`, `draws::rank_key`); later joiners follow in join order. The room
//! admits the next waiters while the free units exceed the units held by open admissions
//! (each holds the product's per-user limit), at most `admit_rate` a second.

pub mod verify;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::ValidationError;
use super::draws::SaleMode;
use super::ids::{ProductId, UserId};

/// How long before the sale the room opens when `opens_at` is not set.
pub const DEFAULT_OPENS_BEFORE_MINUTES: i64 = 15;

/// A product's waiting-room settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Whether buyers go through the room (then an order needs an open admission).
    pub enabled: bool,
    /// When joining opens, as set; None: 15 minutes before `sale_starts_at`.
    pub opens_at: Option<DateTime<Utc>>,
    /// How long an admission lasts, 30..=3600.
    pub admit_seconds: i64,
    /// Most admissions a second, 1..=10000.
    pub admit_rate: i64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            opens_at: None,
            admit_seconds: 120,
            admit_rate: 500,
        }
    }
}

impl QueueSettings {
    /// Checks the settings against the product's sale mode and window.
    pub fn validate(
        self,
        mode: SaleMode,
        sale_starts_at: Option<DateTime<Utc>>,
    ) -> Result<Self, ValidationError> {
        super::clock::check_client_time("queue.opens_at", self.opens_at)?;
        if !(30..=3600).contains(&self.admit_seconds) {
            return Err(ValidationError::new(
                "queue.admit_seconds",
                "must be between 30 and 3600",
            ));
        }
        if !(1..=10_000).contains(&self.admit_rate) {
            return Err(ValidationError::new(
                "queue.admit_rate",
                "must be between 1 and 10000",
            ));
        }
        if !self.enabled {
            return Ok(self);
        }
        if mode != SaleMode::FirstCome {
            return Err(ValidationError::new(
                "queue",
                "is only for first_come products",
            ));
        }
        let Some(start) = sale_starts_at else {
            return Err(ValidationError::new(
                "sale_starts_at",
                "is required when the queue is enabled (the room is ordered then)",
            ));
        };
        if self.opens_at.is_some_and(|o| o > start) {
            return Err(ValidationError::new(
                "queue.opens_at",
                "must not be after sale_starts_at",
            ));
        }
        Ok(self)
    }

    /// When joining opens: as set, or 15 minutes before the sale; None without a start.
    pub fn opens_at(&self, sale_starts_at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
        self.opens_at
            .or_else(|| sale_starts_at.map(|s| s - Duration::minutes(DEFAULT_OPENS_BEFORE_MINUTES)))
    }
}

/// A member's stored status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// In the room, not admitted yet.
    Waiting,
    /// Admitted until `admitted_until`.
    Admitted,
    /// The admission placed an order.
    Ordered,
    /// The admission passed unused.
    Expired,
    /// The member left.
    Left,
    /// The stock was gone with no admission open while the member waited.
    SoldOut,
}

impl MemberStatus {
    /// The storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Admitted => "ADMITTED",
            Self::Ordered => "ORDERED",
            Self::Expired => "EXPIRED",
            Self::Left => "LEFT",
            Self::SoldOut => "SOLD_OUT",
        }
    }

    /// Reads the stored spelling (the schema allows no other).
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "ADMITTED" => Self::Admitted,
            "ORDERED" => Self::Ordered,
            "EXPIRED" => Self::Expired,
            "LEFT" => Self::Left,
            "SOLD_OUT" => Self::SoldOut,
            _ => Self::Waiting,
        }
    }
}

/// A member's state as its holder sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueState {
    /// Joined; the sale has not started, so the order is not drawn yet.
    WaitingForOpen,
    /// Waiting for an admission.
    Waiting,
    /// May order until `admitted_until`.
    Admitted,
    /// The admission placed an order.
    Ordered,
    /// The admission passed unused.
    Expired,
    /// Left the room.
    Left,
    /// The stock was gone before the member's turn.
    SoldOut,
}

/// One member of a product's waiting room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The row's id: the list's cursor and, in lane 1, the join order.
    pub id: i64,
    /// The product.
    pub product_id: ProductId,
    /// The member.
    pub user_id: UserId,
    /// Whether the member joined before the sale started (ranked by `rank_key`).
    pub early: bool,
    /// SHA-256 of `"{seed}:{user_id}"` for an early member; empty for a later one.
    pub rank_key: String,
    /// Stored status.
    pub status: MemberStatus,
    /// When the member joined.
    pub joined_at: DateTime<Utc>,
    /// When the member was admitted, if ever.
    pub admitted_at: Option<DateTime<Utc>>,
    /// Until when the admission lasts.
    pub admitted_until: Option<DateTime<Utc>>,
}

impl Member {
    /// Whether the member holds an admission that is open at `now`.
    pub fn is_admitted(&self, now: DateTime<Utc>) -> bool {
        self.status == MemberStatus::Admitted && self.admitted_until.is_some_and(|u| u > now)
    }

    /// The state the member sees at `now`: an admission past its time is EXPIRED before the
    /// worker writes it, and waiting before the sale is WAITING_FOR_OPEN.
    pub fn state(&self, sale_starts_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> QueueState {
        seen_state(self.status, self.admitted_until, sale_starts_at, now)
    }
}

/// The state a member with `status` (admitted until `admitted_until`) sees at `now`.
pub fn seen_state(
    status: MemberStatus,
    admitted_until: Option<DateTime<Utc>>,
    sale_starts_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueueState {
    match status {
        MemberStatus::Waiting if sale_starts_at.is_some_and(|s| now < s) => {
            QueueState::WaitingForOpen
        }
        MemberStatus::Waiting => QueueState::Waiting,
        MemberStatus::Admitted if admitted_until.is_some_and(|u| u > now) => QueueState::Admitted,
        MemberStatus::Admitted | MemberStatus::Expired => QueueState::Expired,
        MemberStatus::Ordered => QueueState::Ordered,
        MemberStatus::Left => QueueState::Left,
        MemberStatus::SoldOut => QueueState::SoldOut,
    }
}

/// One member in a read of the whole room in its order (`QueueStore::queue_room`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// The member.
    pub user_id: UserId,
    /// Stored status.
    pub status: MemberStatus,
    /// Until when the admission lasts, if admitted.
    pub admitted_until: Option<DateTime<Utc>>,
}

/// What changes whenever a room's rows change: the member count and the latest write
/// (milliseconds).
pub type RoomMark = (i64, i64);

/// How many members of a room are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Waiting for an admission (or for the sale to start).
    pub waiting: i64,
    /// Holding an open admission.
    pub admitted: i64,
    /// Whose admission placed an order.
    pub ordered: i64,
    /// Whose admission passed unused.
    pub expired: i64,
    /// Who left.
    pub left: i64,
    /// Who waited when the stock was gone.
    pub sold_out: i64,
}

impl QueueCounts {
    /// Counts `n` more members in `status`.
    pub fn add(&mut self, status: MemberStatus, n: i64) {
        let slot = match status {
            MemberStatus::Waiting => &mut self.waiting,
            MemberStatus::Admitted => &mut self.admitted,
            MemberStatus::Ordered => &mut self.ordered,
            MemberStatus::Expired => &mut self.expired,
            MemberStatus::Left => &mut self.left,
            MemberStatus::SoldOut => &mut self.sold_out,
        };
        *slot += n;
    }
}

/// What one admission step did on one product.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Admitted {
    /// Admissions that passed and were written EXPIRED.
    pub expired: u64,
    /// Waiters admitted.
    pub admitted: u64,
    /// Waiters written SOLD_OUT.
    pub sold_out: u64,
}

/// Whether a started room is over: no free unit and no admission open. Its waiters are
/// then SOLD_OUT, whether or not the admitting step has written it to their rows yet.
pub fn sold_out(free: i64, open_admissions: i64) -> bool {
    free <= 0 && open_admissions == 0
}

/// How many waiters to admit now: while the free units exceed the units the open
/// admissions hold (each `per_user_limit`), and no more than the rate leaves this second.
pub fn admissions_allowed(
    free: i64,
    per_user_limit: i64,
    open: i64,
    admitted_last_second: i64,
    admit_rate: i64,
) -> i64 {
    let limit = per_user_limit.max(1);
    let by_stock = (free.max(0) + limit - 1) / limit - open;
    by_stock.min(admit_rate - admitted_last_second).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_stops_where_open_admissions_hold_the_free_units() {
        assert_eq!(admissions_allowed(3, 1, 0, 0, 500), 3);
        assert_eq!(admissions_allowed(3, 1, 2, 0, 500), 1);
        assert_eq!(admissions_allowed(3, 1, 3, 0, 500), 0);
        assert_eq!(admissions_allowed(3, 2, 0, 0, 500), 2);
        assert_eq!(admissions_allowed(4, 2, 1, 0, 500), 1);
        assert_eq!(admissions_allowed(0, 1, 0, 0, 500), 0);
        assert_eq!(admissions_allowed(100, 1, 0, 8, 10), 2);
        assert_eq!(admissions_allowed(100, 1, 0, 12, 10), 0);
    }

    #[test]
    fn a_queue_is_for_first_come_products_with_a_start() {
        let t = Utc::now();
        let on = QueueSettings {
            enabled: true,
            ..QueueSettings::default()
        };
        assert_eq!(
            on.validate(SaleMode::Draw, Some(t)).unwrap_err().field,
            "queue"
        );
        assert_eq!(
            on.validate(SaleMode::FirstCome, None).unwrap_err().field,
            "sale_starts_at"
        );
        assert!(on.validate(SaleMode::FirstCome, Some(t)).is_ok());
        assert_eq!(
            on.opens_at(Some(t)),
            Some(t - Duration::minutes(DEFAULT_OPENS_BEFORE_MINUTES))
        );
        let slow = QueueSettings {
            admit_seconds: 29,
            ..on
        };
        assert_eq!(
            slow.validate(SaleMode::FirstCome, Some(t))
                .unwrap_err()
                .field,
            "queue.admit_seconds"
        );
    }
}
