//! Claims: units set aside for the members a claim round tells, the storage side.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::claim::{Claim, ClaimCounts, ClaimState, ClaimStatus, Holder};
use crate::domain::clock::from_millis;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{OrderRequest, Placement, Returned, StockVersion};
use crate::domain::page::PageRequest;
use crate::domain::round::Lease;

/// The member of the line a claim is for, in which round, and where the walk found them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimFor {
    /// The product.
    pub product: ProductId,
    /// The running round.
    pub round: i64,
    /// The member.
    pub user: UserId,
    /// Their line id.
    pub line_id: i64,
    /// Whether the walk has wrapped past the end of the line (rotate).
    pub wrapped: bool,
}

/// What asking for a claim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// The claim took one unit of free stock; the product's stock version after it.
    Claimed(Claim, StockVersion),
    /// The member already holds a claim of this round: the walk goes past them.
    Already,
    /// No unit is free: nothing was written.
    NoStock,
    /// The round is not running under this lease any more: nothing was written.
    NotHeld,
}

/// What one sweep of due claims did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimsExpired {
    /// How many claims went from OPEN to EXPIRED.
    pub claims: usize,
    /// Units returned to free stock, per product.
    pub returned: Vec<Returned>,
}

/// Claims, each change one transaction that also moves the product's free stock.
#[async_trait]
pub trait ClaimStore: Send + Sync {
    /// In one transaction: takes one unit of the product's free stock, writes an OPEN claim
    /// for `member` in its running round held by `lease.owner` (until now + the round's
    /// `claim_seconds`), counts it in the round's `notified_count` and moves the round's
    /// checkpoint to the member, renewing the lease.
    async fn make_claim(
        &self,
        member: ClaimFor,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Made>;
    /// Records that the claim's alert went out: its `notified_at` and the round's history
    /// row (position = the claim's position). Repeats change nothing.
    async fn claim_notified(&self, claim: &Claim, sent_at: DateTime<Utc>) -> StoreResult<()>;
    /// The round's open claims whose alert has not gone out, in the order made.
    async fn unsent_claims(&self, product: ProductId, round: i64) -> StoreResult<Vec<Claim>>;
    /// The round's claims by status, and the earliest time one of its open claims expires.
    async fn claims_now(
        &self,
        product: ProductId,
        round: i64,
    ) -> StoreResult<(ClaimCounts, Option<DateTime<Utc>>)>;
    /// Expires up to `limit` OPEN claims whose time ended by `now` and gives their units back
    /// to free stock, in one transaction.
    async fn expire_claims(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<ClaimsExpired>;
    /// Ends the user's open claims on the product as RELEASED and gives their units back;
    /// None when the user held none.
    async fn release_claims(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Returned>>;
    /// The open claim the user holds on the product, if any.
    async fn open_claim_of(&self, product: ProductId, user: UserId) -> StoreResult<Option<Claim>>;
    /// In one transaction, for a user who holds an open claim on the product: checks the
    /// sale window and the per-user limit, writes the RESERVED order (its first unit is the
    /// claim's, the rest comes from free stock), marks the claim USED with the order and
    /// takes the buyer out of the line. A known idempotency key replays. None when the user
    /// holds no open claim (any more): nothing was written. `SoldOut` when the rest is not
    /// free (the claim stays open).
    async fn place_claimed_order(
        &self,
        req: &OrderRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Placement>>;
    /// A round's claims in the order made; the page cursor is a claim id.
    async fn round_claims(
        &self,
        product: ProductId,
        round: i64,
        page: &PageRequest,
    ) -> StoreResult<Vec<Claim>>;
    /// A user's claims across products, newest first; the page cursor is a claim id.
    async fn user_claims(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Claim>>;
}

/// The columns every claim query selects, in the order of [`ClaimRow`].
pub(crate) const CLAIM_COLUMNS: &str = "id, product_id, round, user_id, position, line_id, \
    status, created_at, expires_at, order_id";

/// A claim row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ClaimRow {
    id: i64,
    product_id: i64,
    round: i64,
    #[sqlx(flatten)]
    holder: HolderColumns,
    #[sqlx(flatten)]
    state: StateColumns,
}

/// The holder's columns of a claim row.
#[derive(Debug, sqlx::FromRow)]
struct HolderColumns {
    user_id: i64,
    position: i64,
    line_id: i64,
}

/// The state's columns of a claim row.
#[derive(Debug, sqlx::FromRow)]
struct StateColumns {
    status: String,
    created_at: i64,
    expires_at: i64,
    order_id: Option<i64>,
}

impl From<ClaimRow> for Claim {
    fn from(r: ClaimRow) -> Self {
        let (h, st) = (r.holder, r.state);
        Claim {
            id: r.id,
            product_id: ProductId::from_db(r.product_id),
            round: r.round,
            holder: Holder {
                user_id: UserId::from_db(h.user_id),
                position: h.position,
                line_id: h.line_id,
            },
            state: ClaimState {
                status: ClaimStatus::from_db(&st.status),
                created_at: from_millis(st.created_at),
                expires_at: from_millis(st.expires_at),
                order_id: st.order_id.map(OrderId::from_db),
            },
        }
    }
}
