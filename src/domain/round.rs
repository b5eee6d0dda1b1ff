//! Restock notification rounds and the only status moves they may make.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::claim::{AlertMode, ClaimCounts};
use super::ids::{ProductId, UserId};
use super::product::LinePolicy;

/// Where a round is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RoundStatus {
    /// Sending.
    InProgress,
    /// Reached the end of the line.
    Completed,
    /// The stock reached 0 while sending.
    CanceledBySoldOut,
    /// The channel failed after its retries.
    CanceledByError,
}

impl RoundStatus {
    /// The storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::CanceledBySoldOut => "CANCELED_BY_SOLD_OUT",
            Self::CanceledByError => "CANCELED_BY_ERROR",
        }
    }

    /// Reads the stored spelling.
    pub fn from_db(raw: &str) -> Option<Self> {
        match raw {
            "IN_PROGRESS" => Some(Self::InProgress),
            "COMPLETED" => Some(Self::Completed),
            "CANCELED_BY_SOLD_OUT" => Some(Self::CanceledBySoldOut),
            "CANCELED_BY_ERROR" => Some(Self::CanceledByError),
            _ => None,
        }
    }

    /// Whether a round may move from `self` to `to`.
    pub fn can_move_to(self, to: Self) -> bool {
        matches!(
            (self, to),
            (
                Self::InProgress,
                Self::Completed | Self::CanceledBySoldOut | Self::CanceledByError
            ) | (Self::CanceledByError, Self::InProgress)
        )
    }
}

/// A stored round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The product.
    pub product_id: ProductId,
    /// The round number (the product's `restock_round` when it opened).
    pub round: i64,
    /// Where it is.
    pub status: RoundStatus,
    /// The end of the unbroken run of successes, in line order.
    pub last_sent_user_id: Option<UserId>,
    /// The line position (subscription id) up to which the round has walked contiguously.
    pub cursor: i64,
    /// Where in the line this round began (for rotate: it wraps and stops before this).
    pub start_position: i64,
    /// Whether the walk has wrapped past the end of the line (rotate only).
    pub wrapped: bool,
    /// How many users the round has notified.
    pub notified_count: i64,
    /// When it opened.
    pub started_at: DateTime<Utc>,
    /// When it ended; None while in progress.
    pub finished_at: Option<DateTime<Utc>>,
    /// The failure, for CANCELED_BY_ERROR.
    pub error: Option<String>,
    /// What the round sends (the product's mode when it opened).
    pub alert_mode: AlertMode,
    /// How long each of its claims lasts (claim rounds).
    pub claim_seconds: i64,
    /// Its claims by status (all 0 in broadcast mode).
    pub claims: ClaimCounts,
}

impl Round {
    /// Which round this is.
    pub fn at(&self) -> RoundRef {
        RoundRef {
            product: self.product_id,
            round: self.round,
        }
    }

    /// Where the product's next round starts walking the line (the line id it starts after).
    ///
    /// `restart` always starts at the front. `rotate` starts after the last person this round
    /// reached when it stopped early (sold out or broken), so the unreached go first next time.
    pub fn next_start(&self, policy: LinePolicy) -> i64 {
        match (policy, self.status) {
            (LinePolicy::Rotate, RoundStatus::CanceledBySoldOut | RoundStatus::CanceledByError) => {
                self.cursor
            }
            _ => 0,
        }
    }
}

/// One round of one product: what the reads of a round's lists name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundRef {
    /// The product.
    pub product: ProductId,
    /// The round's number.
    pub round: i64,
}

/// How far a running round has walked, written with each batch of history rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Line id of the end of the unbroken run of successes (or skips of people already notified).
    pub cursor: i64,
    /// Whether `cursor` lies in the wrapped part of the walk (rotate).
    pub wrapped: bool,
    /// The user at `cursor`; None before the first.
    pub last_sent_user_id: Option<UserId>,
}

/// Who runs a round and until when (so another instance can take over when it lapses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The instance holding the round.
    pub owner: String,
    /// When the hold lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// One user a round notified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The user.
    pub user_id: UserId,
    /// 1-based place within the round.
    pub position: i64,
    /// The user's line id when notified.
    pub line_id: i64,
    /// When the notification was sent.
    pub sent_at: DateTime<Utc>,
}

#[cfg(test)]
impl Round {
    /// A round of product 1 for unit tests: round 1, `status`, walked to `cursor`.
    pub(crate) fn sample(status: RoundStatus, cursor: i64) -> Self {
        Self {
            product_id: ProductId::from_db(1),
            round: 1,
            status,
            last_sent_user_id: None,
            cursor,
            start_position: 0,
            wrapped: false,
            notified_count: 0,
            started_at: chrono::Utc::now(),
            finished_at: None,
            error: None,
            alert_mode: Default::default(),
            claim_seconds: 600,
            claims: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RoundStatus::*;

    #[test]
    fn rounds_only_move_along_allowed_edges() {
        assert!(InProgress.can_move_to(Completed));
        assert!(InProgress.can_move_to(CanceledBySoldOut));
        assert!(InProgress.can_move_to(CanceledByError));
        assert!(CanceledByError.can_move_to(InProgress));
        assert!(!Completed.can_move_to(InProgress));
        assert!(!CanceledBySoldOut.can_move_to(InProgress));
        assert!(!InProgress.can_move_to(InProgress));
    }

    fn round(status: super::RoundStatus, cursor: i64) -> super::Round {
        super::Round::sample(status, cursor)
    }

    #[test]
    fn rotate_starts_after_the_last_reached_only_when_the_round_stopped_early() {
        use crate::domain::product::LinePolicy::*;
        assert_eq!(round(CanceledBySoldOut, 7).next_start(Rotate), 7);
        assert_eq!(round(CanceledByError, 7).next_start(Rotate), 7);
        assert_eq!(round(Completed, 7).next_start(Rotate), 0);
        assert_eq!(round(CanceledBySoldOut, 7).next_start(Restart), 0);
    }
}
