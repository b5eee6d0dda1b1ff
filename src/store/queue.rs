//! The waiting room: the storage contract both backends implement (`sql/queue.rs`), and the
//! member row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::clock::from_millis;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::domain::queue::{Admitted, Member, MemberStatus, QueueCounts, RoomMark, Seat};

/// Members of waiting rooms and their admissions; each change one transaction.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Puts `user` in the room (true), or answers the place already held (false). Refuses
    /// with `QueueClosed` once the sale started with no free unit and no admission open.
    async fn join_queue(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(bool, Member)>;
    /// Takes a waiting or admitted member out (LEFT); false when not in the room at all.
    async fn leave_queue(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// A user's place in a room, if joined: one read of the unique index.
    async fn queue_member(&self, product: ProductId, user: UserId) -> StoreResult<Option<Member>>;
    /// Waiters ahead of `member` and the admissions open at `now`.
    async fn queue_ahead(&self, member: &Member, now: DateTime<Utc>) -> StoreResult<(i64, i64)>;
    /// A room's members in its order (the cursor is the member id).
    async fn queue_members(
        &self,
        product: ProductId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Member>>;
    /// How many members are in each state at `now`.
    async fn queue_counts(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts>;
    /// Marks the user's open admission used by an order.
    async fn admission_used(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Admissions made from `since` on, per whole second (Unix seconds, ascending).
    async fn queue_admissions_per_second(
        &self,
        product: ProductId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(i64, i64)>>;
    /// The member count and latest write of a room: a change of it is a change of the room.
    async fn queue_mark(&self, product: ProductId) -> StoreResult<RoomMark>;
    /// Every member of a room in its order (one read, for the live standings).
    async fn queue_room(&self, product: ProductId) -> StoreResult<Vec<Seat>>;
    /// Products whose sale has started and whose room has waiting or admitted members.
    async fn live_queues(&self, now: DateTime<Utc>) -> StoreResult<Vec<ProductId>>;
    /// One admission step on a room, in one transaction with the product row locked: passed
    /// admissions become EXPIRED, the next waiters are admitted as the stock and the rate
    /// allow, and with no free unit and no admission open every waiter becomes SOLD_OUT.
    async fn admit(&self, product: ProductId, now: DateTime<Utc>) -> StoreResult<Admitted>;
}

/// A join asked for; the SQL store queues it as it is for its batch (`JoinQueue`).
#[derive(Debug)]
pub(crate) struct Joining {
    /// The product whose room is joined.
    pub product: ProductId,
    /// Who joins.
    pub user: UserId,
    /// When the join was asked for.
    pub now: DateTime<Utc>,
}

/// Joins queued for the process's join writer (see `store::group_commit`).
pub(crate) type JoinQueue = crate::store::group_commit::WriteQueue<Joining, (bool, Member)>;

/// The columns every member query selects, in the order of [`MemberRow`].
pub(crate) const MEMBER_COLUMNS: &str = "id, product_id, user_id, lane, rank_key, status, \
     joined_at, admitted_at, admitted_until";

/// One member by product and user: the read an order on a queued product adds (a hot query).
pub(crate) const MEMBER_OF_USER_SQL: &str = "SELECT id, product_id, user_id, lane, rank_key, \
     status, joined_at, admitted_at, admitted_until FROM queue_member \
     WHERE product_id = ? AND user_id = ?";

/// A member row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct MemberRow {
    pub id: i64,
    pub product_id: i64,
    pub user_id: i64,
    pub lane: i64,
    pub rank_key: String,
    pub status: String,
    pub joined_at: i64,
    pub admitted_at: Option<i64>,
    pub admitted_until: Option<i64>,
}

impl From<MemberRow> for Member {
    fn from(r: MemberRow) -> Self {
        Member {
            id: r.id,
            product_id: ProductId::from_db(r.product_id),
            user_id: UserId::from_db(r.user_id),
            early: r.lane == 0,
            rank_key: r.rank_key,
            status: MemberStatus::from_db(&r.status),
            joined_at: from_millis(r.joined_at),
            admitted_at: r.admitted_at.map(from_millis),
            admitted_until: r.admitted_until.map(from_millis),
        }
    }
}
