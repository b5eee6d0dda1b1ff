//! Draw sales: the storage contract both backends implement (`sql/draws/`), and row shapes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::clock::from_millis;
use crate::domain::draws::{DrawOutcome, DrawRecord, Entry, EntryOutcome, EntryStatus, Win};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Quantity;
use crate::domain::page::PageRequest;

/// Entries, the draw and its waitlist, each change one transaction.
#[async_trait]
pub trait DrawStore: Send + Sync {
    /// Enters `user` in the draw of `product` (or replaces the quantity). Refuses with
    /// `NotADraw`, `EntryClosed`, or `Invalid` on `quantity` above the per-user limit.
    async fn enter(&self, entering: Entering) -> StoreResult<(EntryOutcome, Entry)>;
    /// Withdraws the user's entry (nothing when not entered); `EntryClosed` after the window.
    async fn withdraw(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A user's entries, newest first (`page.after` is the cursor to continue below).
    async fn user_entries(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Entry>>;
    /// A draw product's draw; None for a first-come product, `NotFound` for no product.
    async fn draw_record(&self, product: ProductId) -> StoreResult<Option<DrawRecord>>;
    /// A product's entries: by rank then the withdrawn ones after the draw, by user id before.
    async fn draw_entries(&self, product: ProductId, page: &PageRequest)
    -> StoreResult<Vec<Entry>>;
    /// Draw products whose window ended by `now` and whose draw has not run.
    async fn due_draws(&self, now: DateTime<Utc>) -> StoreResult<Vec<ProductId>>;
    /// Runs the draw of `product` in one transaction that first claims it (a conditional
    /// update): ranks, the winners' RESERVED orders and their stock, the digest and the units
    /// drawn for (the free stock then). None when it is not due or ran already (here or on
    /// another instance).
    async fn run_draw(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<Option<DrawOutcome>>;
    /// Drawn products whose stock changed since their waitlist was last offered units.
    async fn waitlists_to_offer(&self) -> StoreResult<Vec<ProductId>>;
    /// Offers the product's free units down its waitlist by rank: each entry whose whole
    /// quantity fits wins a RESERVED order.
    async fn promote_waitlist(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<DrawOutcome>;
    /// Wins not notified yet whose notification nobody holds (its lease passed), by rank.
    async fn unnotified_wins(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Win>>;
    /// Takes the notification of a win until `until`, unless sent or held elsewhere.
    async fn claim_win_notice(
        &self,
        win: &Win,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Records that a win's notification was delivered.
    async fn win_notified(&self, win: &Win, now: DateTime<Utc>) -> StoreResult<()>;
}

/// The columns every entry query selects, in the order of [`EntryRow`], from `draw_entry e`
/// and its rank row `r` (none before the draw): an entry that took part and neither won nor
/// withdrew is WAITLISTED once ranked.
pub(crate) const ENTRY_COLUMNS: &str = "e.id, e.product_id, e.user_id, e.quantity, \
     CASE WHEN e.status = 'ENTERED' AND r.list_pos IS NOT NULL THEN 'WAITLISTED' \
     ELSE e.status END AS status, r.list_pos, e.order_id, e.created_at";

/// An entry row.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EntryRow {
    pub id: i64,
    pub product_id: i64,
    pub user_id: i64,
    pub quantity: i64,
    pub status: String,
    pub list_pos: Option<i64>,
    pub order_id: Option<i64>,
    pub created_at: i64,
}

/// Which key an entry list continues from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum EntryCursor {
    /// The row id (a user's entries).
    Id,
    /// The user id (a product's entries before the draw).
    User,
    /// The place in the list after the draw.
    Listed,
}

impl EntryRow {
    /// The entry, with the cursor `by` names.
    pub fn entry(self, by: EntryCursor) -> Entry {
        let cursor = match by {
            EntryCursor::Id => self.id,
            EntryCursor::User => self.user_id,
            EntryCursor::Listed => self.list_pos.unwrap_or(0),
        };
        let status = EntryStatus::from_db(&self.status);
        Entry {
            product_id: ProductId::from_db(self.product_id),
            user_id: UserId::from_db(self.user_id),
            quantity: Quantity::from_db(self.quantity),
            status,
            // A withdrawn entry's place in the list comes after every rank.
            rank: self.list_pos.filter(|_| status != EntryStatus::Withdrawn),
            order_id: self.order_id.map(OrderId::from_db),
            created_at: from_millis(self.created_at),
            cursor,
        }
    }
}

/// A win row (an entry joined with its order).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct WinRow {
    pub product_id: i64,
    pub user_id: i64,
    pub order_id: i64,
    pub quantity: i64,
    pub expires_at: i64,
    pub list_pos: i64,
}

impl From<WinRow> for Win {
    fn from(r: WinRow) -> Self {
        Win {
            product_id: ProductId::from_db(r.product_id),
            user_id: UserId::from_db(r.user_id),
            order_id: OrderId::from_db(r.order_id),
            quantity: Quantity::from_db(r.quantity),
            expires_at: from_millis(r.expires_at),
            rank: r.list_pos,
        }
    }
}

/// An entry asked for; the SQL store queues it as it is for its batch (`EntryQueue`).
#[derive(Debug)]
pub struct Entering {
    /// The product whose draw is entered.
    pub product: ProductId,
    /// Who enters.
    pub user: UserId,
    /// Units asked for.
    pub quantity: Quantity,
    /// When the entry was asked for.
    pub now: DateTime<Utc>,
}

/// Entries queued for the process's entry writer (see `store::group_commit`).
pub(crate) type EntryQueue =
    crate::store::group_commit::WriteQueue<Entering, (EntryOutcome, Entry)>;
