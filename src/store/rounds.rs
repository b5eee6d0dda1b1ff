//! Restock rounds and their history: the storage side of the notification engine.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::claim::{AlertMode, ClaimCounts};
use crate::domain::clock::from_millis;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::StockVersion;
use crate::domain::page::PageRequest;
use crate::domain::round::{Checkpoint, Lease, Recipient, Round, RoundStatus};

/// Rounds, their recipients and the leases that say which instance runs them.
#[async_trait]
pub trait RoundStore: Send + Sync {
    /// Adds `quantity` to the product's stock, bumps `restock_round` and commits the new round
    /// IN_PROGRESS, held by `lease`, in one transaction. `RoundInProgress` while the latest
    /// round still runs, `OutOfStock` when the stock would be 0, `NotFound` for no product.
    /// Answers the round and the product's stock version after the restock.
    async fn open_round(
        &self,
        product: ProductId,
        quantity: i64,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<(Round, StockVersion)>;
    /// Moves the latest round from CANCELED_BY_ERROR back to IN_PROGRESS, held by `lease`;
    /// `NothingToResume` otherwise.
    async fn resume_round(
        &self,
        product: ProductId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Round>;
    /// One round.
    async fn get_round(&self, product: ProductId, round: i64) -> StoreResult<Option<Round>>;
    /// A product's rounds, newest first; the page cursor is a round number.
    async fn list_rounds(&self, product: ProductId, page: &PageRequest) -> StoreResult<Vec<Round>>;
    /// A round's recipients by position; the page cursor is a position.
    async fn recipients(
        &self,
        product: ProductId,
        round: i64,
        page: &PageRequest,
    ) -> StoreResult<Vec<Recipient>>;
    /// Which of `users` the round's history already holds, with their positions.
    async fn recipients_among(
        &self,
        product: ProductId,
        round: i64,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, i64)>>;
    /// Writes history rows (duplicates ignored) and the checkpoint in one transaction, renewing
    /// the lease. False when `lease.owner` no longer holds the running round (nothing written).
    async fn record_progress(
        &self,
        product: ProductId,
        round: i64,
        rows: &[Recipient],
        checkpoint: &Checkpoint,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Ends a running round held by `owner` with `status`; false when it was not.
    async fn finish_round(
        &self,
        product: ProductId,
        round: i64,
        status: RoundStatus,
        error: Option<&str>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Gives up `owner`'s hold on a round left running (a clean stop), so any instance may go on.
    async fn release_round(&self, product: ProductId, round: i64, owner: &str) -> StoreResult<()>;
    /// Takes running rounds that nobody holds or whose lease lapsed, and returns every running
    /// round `lease.owner` now holds (at most `limit`).
    async fn claim_rounds(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(ProductId, i64)>>;
    /// The instances other than `me` that hold running rounds, whatever their leases' expiry.
    async fn round_owners(&self, me: &str) -> StoreResult<Vec<String>>;
    /// Moves every running round `owner` holds to `lease` at once, without waiting for its
    /// lease to lapse (the owner is known to be gone). Answers how many rounds it took.
    async fn take_rounds_of(
        &self,
        owner: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

/// Columns every round query selects.
/// (of a round row `h`; the claim counts come from `claims_in_round`).
pub(crate) const ROUND_COLUMNS: &str = "product_id, round, status, last_sent_user_id, line_cursor, \
    start_position, wrapped, notified_count, started_at, finished_at, error, alert_mode, \
    claim_seconds, \
    (SELECT COUNT(*) FROM claim c WHERE c.product_id = h.product_id AND c.round = h.round \
     AND c.status = 'OPEN') AS claims_open, \
    (SELECT COUNT(*) FROM claim c WHERE c.product_id = h.product_id AND c.round = h.round \
     AND c.status = 'USED') AS claims_used, \
    (SELECT COUNT(*) FROM claim c WHERE c.product_id = h.product_id AND c.round = h.round \
     AND c.status = 'EXPIRED') AS claims_expired, \
    (SELECT COUNT(*) FROM claim c WHERE c.product_id = h.product_id AND c.round = h.round \
     AND c.status = 'RELEASED') AS claims_released";

/// A round row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RoundRow {
    product_id: i64,
    round: i64,
    status: String,
    last_sent_user_id: Option<i64>,
    line_cursor: i64,
    start_position: i64,
    wrapped: i64,
    notified_count: i64,
    started_at: i64,
    finished_at: Option<i64>,
    error: Option<String>,
    alert_mode: String,
    claim_seconds: i64,
    claims_open: i64,
    claims_used: i64,
    claims_expired: i64,
    claims_released: i64,
}

impl From<RoundRow> for Round {
    fn from(r: RoundRow) -> Self {
        Round {
            product_id: ProductId::from_db(r.product_id),
            round: r.round,
            // Only this module writes the column, always from RoundStatus::as_str.
            status: RoundStatus::from_db(&r.status).unwrap_or(RoundStatus::CanceledByError),
            last_sent_user_id: r.last_sent_user_id.map(UserId::from_db),
            cursor: r.line_cursor,
            start_position: r.start_position,
            wrapped: r.wrapped != 0,
            notified_count: r.notified_count,
            started_at: from_millis(r.started_at),
            finished_at: r.finished_at.map(from_millis),
            error: r.error,
            alert_mode: AlertMode::from_db(&r.alert_mode),
            claim_seconds: r.claim_seconds,
            claims: ClaimCounts {
                open: r.claims_open,
                used: r.claims_used,
                expired: r.claims_expired,
                released: r.claims_released,
            },
        }
    }
}

/// A history row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RecipientRow {
    user_id: i64,
    position: i64,
    line_id: i64,
    sent_at: i64,
}

impl From<RecipientRow> for Recipient {
    fn from(r: RecipientRow) -> Self {
        Recipient {
            user_id: UserId::from_db(r.user_id),
            position: r.position,
            line_id: r.line_id,
            sent_at: from_millis(r.sent_at),
        }
    }
}
