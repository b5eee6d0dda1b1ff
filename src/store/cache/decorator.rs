//! The store with product reads from memory: every call goes to the database store it wraps;
//! `get_product` is answered from the copy when it can be, and every write that changes a
//! product row drops that product's entry before it answers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::future::Future;
use std::sync::Arc;

use super::{Change, Changing, Lookup, ProductCache, Sweeping};
use crate::domain::brand::{Brand, NewBrand};
use crate::domain::claim::{Claim, ClaimCounts};
use crate::domain::delivery::{DeliveryAttempt, DeliveryFailures, DeliveryRecord};
use crate::domain::draws::{DrawOutcome, DrawRecord, Entry, EntryOutcome, Win};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Returned;
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, StockVersion, Transition,
};
use crate::domain::page::PageRequest;
use crate::domain::product::{NewProduct, Product, ProductChanges};
use crate::domain::queue::{Admitted, Member, QueueCounts, RoomMark, Seat};
use crate::domain::round::{Checkpoint, Lease, Recipient, Round, RoundStatus};
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::claims::{ClaimFor, ClaimsExpired, Made};
use crate::store::deliveries::{DeliveryStore, RoundDeliveries};
use crate::store::draws::Entering;
use crate::store::queue::QueueStore;
use crate::store::{
    AdminStore, Backend, CatalogStore, ClaimStore, DrawStore, LineStore, LineWindow, OrderStore,
    RoundStore, StockRecord, Store, StoreError, StoreResult,
};

/// The product a pay or cancel changed: only one that gave units back touched its row.
fn returned_units(t: &Transition) -> Vec<ProductId> {
    if t.returned != 0 {
        vec![t.order.product_id]
    } else {
        Vec::new()
    }
}

/// A database store behind a copy of its products.
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<ProductCache>,
}

impl CachedStore {
    /// Puts `cache` in front of `inner`'s product reads.
    pub fn new(inner: Arc<dyn Store>, cache: Arc<ProductCache>) -> Self {
        Self { inner, cache }
    }

    /// Forgets `product` for the length of a write that names it: its entry is dropped now,
    /// none is filled while the guard lives, and it is dropped (and the change announced)
    /// again when the guard goes, also when the write's future is dropped halfway.
    fn forget(&self, product: ProductId) -> Changing<'_> {
        Changing::new(&self.cache, product)
    }

    /// After a write that names its product only in its answer (each is run where its future
    /// cannot be dropped: a detached task or a worker's step), forgets what it changed. A
    /// failure whose outcome is unknown (the database went away around the commit, or the
    /// store lost track of its own batch) may have changed anything: everything is
    /// forgotten; a refusal changed nothing.
    fn forget_answered<T>(&self, done: &StoreResult<T>, changed: impl Fn(&T) -> Vec<ProductId>) {
        match done {
            Ok(v) => {
                for p in changed(v) {
                    self.cache.changed(Change::Product(p));
                }
            }
            Err(StoreError::Database(_) | StoreError::Internal(_) | StoreError::Unreachable(_)) => {
                self.cache.changed(Change::All);
            }
            Err(_) => {}
        }
    }

    /// Runs a sweep, a write whose products are known only from its answer: no entry is
    /// served or filled while it runs, then what `changed` finds in the answer is forgotten
    /// (everything, if the sweep is abandoned halfway).
    async fn sweep<T>(
        &self,
        write: impl Future<Output = StoreResult<T>>,
        changed: impl Fn(&T) -> Vec<ProductId>,
    ) -> StoreResult<T> {
        let sweeping = Sweeping::new(&self.cache);
        let done = write.await;
        self.forget_answered(&done, changed);
        sweeping.answered();
        done
    }
}

/// Implements a store trait for [`CachedStore`]. The methods listed first are passed on to
/// the wrapped store as they are: reads, and writes that change no product row. The methods
/// after the list are written out: the writes that change product rows, each saying what the
/// copy forgets.
macro_rules! cached {
    (
        $store:ident {
            $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*
        }
        $($written:tt)*
    ) => {
        #[async_trait]
        impl $store for CachedStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    self.inner.$name($($arg),*).await
                }
            )*
            $($written)*
        }
    };
}

cached! {
    AdminStore {
        migrate() -> ();
        ping() -> ();
        deployment_id() -> String;
    }
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

cached! {
    CatalogStore {
        create_brand(brand: &NewBrand, now: DateTime<Utc>) -> Brand;
        list_brands(page: &PageRequest) -> Vec<Brand>;
        // Nothing to forget: only products that exist are held.
        create_product(product: &NewProduct, now: DateTime<Utc>) -> Product;
        list_products(page: &PageRequest) -> Vec<Product>;
        all_stock() -> Vec<StockRecord>;
        stock_of(product: ProductId) -> Option<StockRecord>;
    }
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        match self.cache.get(id) {
            Lookup::Hit(p) => Ok(Some(*p)),
            Lookup::Bypass => self.inner.get_product(id).await,
            Lookup::Miss(ticket) => {
                let found = self.inner.get_product(id).await?;
                if let Some(p) = &found {
                    self.cache.fill(ticket, p);
                }
                Ok(found)
            }
        }
    }
    async fn update_product(&self, id: ProductId, changes: &ProductChanges, now: DateTime<Utc>) -> StoreResult<Product> {
        let _forget = self.forget(id);
        self.inner.update_product(id, changes, now).await
    }
}

cached! {
    LineStore {
        join_line(product: ProductId, user: UserId, now: DateTime<Utc>) -> (JoinOutcome, Subscription);
        leave_line(product: ProductId, user: UserId, now: DateTime<Utc>) -> ();
        line_place(product: ProductId, user: UserId) -> Option<(Subscription, i64)>;
        user_subscriptions(user: UserId, page: &PageRequest) -> Vec<Subscription>;
        import_line(product: ProductId, users: &[UserId], now: DateTime<Utc>) -> ImportOutcome;
        line_page(product: ProductId, w: LineWindow) -> Vec<Subscription>;
    }
}

cached! {
    OrderStore {
        order_by_key(user: UserId, key: &IdempotencyKey) -> Option<Order>;
        get_order(id: OrderId) -> Option<Order>;
        user_orders(user: UserId, page: &PageRequest) -> Vec<Order>;
        units_held(product: ProductId) -> i64;
    }
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
        let _forget = self.forget(req.product_id);
        self.inner.place_order(req, now).await
    }
    async fn cancel_order(&self, id: OrderId, product: ProductId, now: DateTime<Utc>) -> StoreResult<Transition> {
        let _forget = self.forget(product);
        self.inner.cancel_order(id, product, now).await
    }
    // A pay returns units only when it finds the hold ended: rare, and the entry of the
    // product being paid for stays served meanwhile.
    async fn pay_order(&self, id: OrderId, product: ProductId, payment: &PaymentRef, now: DateTime<Utc>) -> StoreResult<Transition> {
        let done = self.inner.pay_order(id, product, payment, now).await;
        self.forget_answered(&done, returned_units);
        done
    }
    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        self.sweep(self.inner.expire_due(now, limit), |e: &Expired| {
            e.returned.iter().map(|r| r.product).collect()
        })
        .await
    }
}

cached! {
    RoundStore {
        resume_round(product: ProductId, lease: &Lease, now: DateTime<Utc>) -> Round;
        get_round(product: ProductId, round: i64) -> Option<Round>;
        list_rounds(product: ProductId, page: &PageRequest) -> Vec<Round>;
        recipients(product: ProductId, round: i64, page: &PageRequest) -> Vec<Recipient>;
        recipients_among(product: ProductId, round: i64, users: &[UserId]) -> Vec<(UserId, i64)>;
        record_progress(product: ProductId, round: i64, rows: &[Recipient], checkpoint: &Checkpoint, lease: &Lease, now: DateTime<Utc>) -> bool;
        finish_round(product: ProductId, round: i64, status: RoundStatus, error: Option<&str>, owner: &str, now: DateTime<Utc>) -> bool;
        release_round(product: ProductId, round: i64, owner: &str) -> ();
        claim_rounds(lease: &Lease, now: DateTime<Utc>, limit: i64) -> Vec<(ProductId, i64)>;
        round_owners(me: &str) -> Vec<String>;
        take_rounds_of(owner: &str, lease: &Lease, now: DateTime<Utc>) -> u64;
    }
    async fn open_round(&self, product: ProductId, quantity: i64, lease: &Lease, now: DateTime<Utc>) -> StoreResult<(Round, StockVersion)> {
        let _forget = self.forget(product);
        self.inner.open_round(product, quantity, lease, now).await
    }
}

cached! {
    DrawStore {
        enter(entering: Entering) -> (EntryOutcome, Entry);
        withdraw(product: ProductId, user: UserId, now: DateTime<Utc>) -> ();
        user_entries(user: UserId, page: &PageRequest) -> Vec<Entry>;
        draw_record(product: ProductId) -> Option<DrawRecord>;
        draw_entries(product: ProductId, page: &PageRequest) -> Vec<Entry>;
        due_draws(now: DateTime<Utc>) -> Vec<ProductId>;
        waitlists_to_offer() -> Vec<ProductId>;
        unnotified_wins(now: DateTime<Utc>, limit: i64) -> Vec<Win>;
        claim_win_notice(win: &Win, now: DateTime<Utc>, until: DateTime<Utc>) -> bool;
        win_notified(win: &Win, now: DateTime<Utc>) -> ();
    }
    async fn run_draw(&self, product: ProductId, now: DateTime<Utc>, notify_lease: DateTime<Utc>) -> StoreResult<Option<DrawOutcome>> {
        let _forget = self.forget(product);
        self.inner.run_draw(product, now, notify_lease).await
    }
    async fn promote_waitlist(&self, product: ProductId, now: DateTime<Utc>, notify_lease: DateTime<Utc>) -> StoreResult<DrawOutcome> {
        let _forget = self.forget(product);
        self.inner.promote_waitlist(product, now, notify_lease).await
    }
}

cached! {
    ClaimStore {
        claim_notified(claim: &Claim, sent_at: DateTime<Utc>) -> ();
        unsent_claims(product: ProductId, round: i64) -> Vec<Claim>;
        claims_now(product: ProductId, round: i64) -> (ClaimCounts, Option<DateTime<Utc>>);
        open_claim_of(product: ProductId, user: UserId) -> Option<Claim>;
        round_claims(product: ProductId, round: i64, page: &PageRequest) -> Vec<Claim>;
        user_claims(user: UserId, page: &PageRequest) -> Vec<Claim>;
    }
    async fn make_claim(&self, member: ClaimFor, lease: &Lease, now: DateTime<Utc>) -> StoreResult<Made> {
        let _forget = self.forget(member.product);
        self.inner.make_claim(member, lease, now).await
    }
    async fn release_claims(&self, product: ProductId, user: UserId, now: DateTime<Utc>) -> StoreResult<Option<Returned>> {
        let _forget = self.forget(product);
        self.inner.release_claims(product, user, now).await
    }
    async fn place_claimed_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Option<Placement>> {
        let _forget = self.forget(req.product_id);
        self.inner.place_claimed_order(req, now).await
    }
    async fn expire_claims(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<ClaimsExpired> {
        self.sweep(self.inner.expire_claims(now, limit), |e: &ClaimsExpired| {
            e.returned.iter().map(|r| r.product).collect()
        })
        .await
    }
}

// The room's writes touch only member rows: the product copy stays.
cached! {
    QueueStore {
        join_queue(product: ProductId, user: UserId, now: DateTime<Utc>) -> (bool, Member);
        leave_queue(product: ProductId, user: UserId, now: DateTime<Utc>) -> bool;
        queue_member(product: ProductId, user: UserId) -> Option<Member>;
        queue_ahead(member: &Member, now: DateTime<Utc>) -> (i64, i64);
        queue_members(product: ProductId, page: &PageRequest) -> Vec<Member>;
        queue_counts(product: ProductId, now: DateTime<Utc>) -> QueueCounts;
        admission_used(product: ProductId, user: UserId, now: DateTime<Utc>) -> ();
        queue_admissions_per_second(product: ProductId, since: DateTime<Utc>) -> Vec<(i64, i64)>;
        queue_mark(product: ProductId) -> RoomMark;
        queue_room(product: ProductId) -> Vec<Seat>;
        live_queues(now: DateTime<Utc>) -> Vec<ProductId>;
        admit(product: ProductId, now: DateTime<Utc>) -> Admitted;
    }
}

// The log has no product rows.
cached! {
    DeliveryStore {
        record_deliveries(attempts: &[DeliveryAttempt]) -> ();
        round_deliveries(which: RoundDeliveries, page: &PageRequest) -> Vec<DeliveryRecord>;
        deliveries_of(webhook_id: &str, limit: i64) -> Vec<DeliveryRecord>;
        delivery_failures(product: ProductId, round: i64) -> DeliveryFailures;
        sweep_deliveries(before: DateTime<Utc>, limit: i64) -> u64;
    }
}
