//! The delivery log, the storage side: attempts written in batches, read per round and per
//! notification, swept once past their retention.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::clock::from_millis;
use crate::domain::delivery::{
    DeliveryAttempt, DeliveryFailures, DeliveryKind, DeliveryOutcome, DeliveryRecord, Sender,
};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;

/// Which of a round's attempts a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundDeliveries {
    /// The product.
    pub product: ProductId,
    /// The round.
    pub round: i64,
    /// Only attempts that ended this way; None: all.
    pub outcome: Option<DeliveryOutcome>,
}

/// The delivery log.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Appends attempts, in order, in one transaction.
    async fn record_deliveries(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()>;
    /// A page of a round's attempts, in the order recorded (the cursor is the record id).
    async fn round_deliveries(
        &self,
        which: RoundDeliveries,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Every attempt at one notification, first to last (at most `limit`).
    async fn deliveries_of(&self, webhook_id: &str, limit: i64)
    -> StoreResult<Vec<DeliveryRecord>>;
    /// A round's failed and pending attempts: how many, and the newest one's error.
    async fn delivery_failures(
        &self,
        product: ProductId,
        round: i64,
    ) -> StoreResult<DeliveryFailures>;
    /// Deletes up to `limit` attempts that started before `before`; answers how many went.
    async fn sweep_deliveries(&self, before: DateTime<Utc>, limit: i64) -> StoreResult<u64>;
}

/// The columns every read selects, in the order of [`DeliveryRow`]; `attempt` numbers the
/// attempts at one notification in the order recorded.
pub(crate) const DELIVERY_COLUMNS: &str = "d.id, \
    (SELECT COUNT(*) FROM delivery_attempt e WHERE e.webhook_id = d.webhook_id AND e.id <= d.id) AS attempt, \
    d.webhook_id, d.kind, d.product_id, d.round, d.user_id, d.outcome, d.sender, d.http_status, \
    d.error, d.started_at, d.answered_at, d.body";

/// A stored attempt.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    attempt: i64,
    webhook_id: String,
    kind: String,
    product_id: i64,
    round: Option<i64>,
    user_id: i64,
    outcome: String,
    sender: String,
    http_status: Option<i64>,
    error: Option<String>,
    started_at: i64,
    answered_at: i64,
    body: String,
}

impl From<DeliveryRow> for DeliveryRecord {
    fn from(r: DeliveryRow) -> Self {
        Self {
            id: r.id,
            attempt: r.attempt,
            attempt_of: DeliveryAttempt {
                webhook_id: r.webhook_id,
                kind: DeliveryKind::from_db(&r.kind),
                product_id: ProductId::from_db(r.product_id),
                round: r.round,
                user_id: UserId::from_db(r.user_id),
                outcome: DeliveryOutcome::from_db(&r.outcome),
                sender: Sender::from_db(&r.sender),
                http_status: r.http_status.and_then(|s| u16::try_from(s).ok()),
                error: r.error,
                started_at: from_millis(r.started_at),
                answered_at: from_millis(r.answered_at),
                body: r.body,
            },
        }
    }
}
