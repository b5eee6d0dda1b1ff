//! The delivery log: one record per attempt at a notification (restock alert, claim alert,
//! draw win), kept for the operator to see what failed, how, and to send it again.

use chrono::{DateTime, Utc};

use super::ids::{ProductId, UserId};

named_setting! {
    /// What kind of notification an attempt was for.
    pub enum DeliveryKind for "kind", "must be restock, claim or draw_won" {
        /// A broadcast round's restock alert.
        #[default]
        Restock = "restock",
        /// A claim round's alert (it carries `claim_expires_at`).
        Claim = "claim",
        /// A draw's win notification.
        DrawWon = "draw_won",
    }
}

named_setting! {
    /// How one attempt ended.
    pub enum DeliveryOutcome for "outcome", "must be delivered, failed, pending or expired" {
        /// The receiver answered 2xx.
        #[default]
        Delivered = "delivered",
        /// The attempt failed and was the last: a permanent answer, or the retries ran out
        /// (the round ends `CANCELED_BY_ERROR`).
        Failed = "failed",
        /// The attempt failed and another will follow (a retry, a probe or a resume).
        Pending = "pending",
        /// Never sent: the claim it announced had expired, so its unit had passed on.
        Expired = "expired",
    }
}

/// Who sent an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The round, the claim run or the draw that owns the notification.
    Engine,
    /// An automatic-resume probe of a round that ended `CANCELED_BY_ERROR`.
    Probe,
    /// An operator's replay.
    Replay,
}

impl Sender {
    /// The storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Engine => "engine",
            Self::Probe => "probe",
            Self::Replay => "replay",
        }
    }

    /// Reads the stored spelling (unknown text: the engine).
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "probe" => Self::Probe,
            "replay" => Self::Replay,
            _ => Self::Engine,
        }
    }
}

/// One attempt, as the engine records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The notification's `webhook-id` (its idempotency key), the same on every attempt.
    pub webhook_id: String,
    /// What it was.
    pub kind: DeliveryKind,
    /// Its product.
    pub product_id: ProductId,
    /// Its round (restock and claim alerts); None for a draw win.
    pub round: Option<i64>,
    /// The person it was for.
    pub user_id: UserId,
    /// How it ended.
    pub outcome: DeliveryOutcome,
    /// Who sent it.
    pub sender: Sender,
    /// The receiver's HTTP status, when it answered.
    pub http_status: Option<u16>,
    /// The failure (the receiver's status or the transport error), when it failed.
    pub error: Option<String>,
    /// When it started (the body's `sent_at`).
    pub started_at: DateTime<Utc>,
    /// When the answer (or the failure) came; for `expired`, when it was given up.
    pub answered_at: DateTime<Utc>,
    /// The JSON body as sent (a replay sends it again with a fresh `sent_at`).
    pub body: String,
}

impl DeliveryAttempt {
    /// Milliseconds from its start to its answer.
    pub fn latency_ms(&self) -> i64 {
        (self.answered_at - self.started_at)
            .num_milliseconds()
            .max(0)
    }
}

/// A stored attempt: what was recorded, its key in the log and its number among the
/// attempts at the same notification (1 for the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its key in the log (the cursor of pages).
    pub id: i64,
    /// 1-based, in the order the attempts were recorded.
    pub attempt: i64,
    /// What was recorded.
    pub attempt_of: DeliveryAttempt,
}

/// A round's failures for the dashboard: attempts that failed or wait for a retry, and the
/// newest one's error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFailures {
    /// Attempts recorded `failed` or `pending`.
    pub count: i64,
    /// The error of the newest of them.
    pub last_error: Option<String>,
    /// When it was answered.
    pub last_at: Option<DateTime<Utc>>,
}
