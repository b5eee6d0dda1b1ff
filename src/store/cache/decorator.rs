//! The store with product reads from memory: every call goes to the database store it wraps;
//! `get_product` is answered from the copy when it can be, and every write that changes a
//! product row drops that product's entry before it answers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::{Change, Changing, Lookup, ProductCache};
use crate::domain::brand::{Brand, NewBrand};
use crate::domain::draw::{DrawOutcome, DrawRecord, Entry, EntryOutcome, Win};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Quantity;
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, StockVersion, Transition,
};
use crate::domain::page::PageRequest;
use crate::domain::product::{NewProduct, Product, ProductChanges};
use crate::domain::round::{Checkpoint, Lease, Recipient, Round, RoundStatus};
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::{
    AdminStore, Backend, CatalogStore, DrawStore, LineStore, OrderStore, RoundStore, StockRecord,
    Store, StoreError, StoreResult,
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

    /// After a write that names its product only in its answer (each is run where its future
    /// cannot be dropped: a detached task or a worker's step), drops what it changed. A
    /// failure whose outcome is unknown (the database went away around the commit) may have
    /// changed anything; a refusal changed nothing.
    fn after<T>(&self, done: &StoreResult<T>, changed: impl Fn(&T) -> Vec<ProductId>) {
        match done {
            Ok(v) => {
                for p in changed(v) {
                    self.cache.changed(Change::Product(p));
                }
            }
            Err(StoreError::Database(_) | StoreError::Unreachable(_)) => {
                self.cache.changed(Change::All);
            }
            Err(_) => {}
        }
    }
}

#[async_trait]
impl AdminStore for CachedStore {
    fn backend(&self) -> Backend {
        self.inner.backend()
    }
    async fn migrate(&self) -> StoreResult<()> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
    async fn deployment_id(&self) -> StoreResult<String> {
        self.inner.deployment_id().await
    }
}

#[async_trait]
impl CatalogStore for CachedStore {
    async fn create_brand(&self, brand: &NewBrand, now: DateTime<Utc>) -> StoreResult<Brand> {
        self.inner.create_brand(brand, now).await
    }
    async fn list_brands(&self, page: &PageRequest) -> StoreResult<Vec<Brand>> {
        self.inner.list_brands(page).await
    }
    async fn create_product(
        &self,
        product: &NewProduct,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        // Nothing to drop: only products that exist are held.
        self.inner.create_product(product, now).await
    }
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        match self.cache.get(id) {
            Lookup::Hit(p) => Ok(Some(p)),
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
    async fn list_products(&self, page: &PageRequest) -> StoreResult<Vec<Product>> {
        self.inner.list_products(page).await
    }
    async fn update_product(
        &self,
        id: ProductId,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        let _changing = Changing::new(&self.cache, id);
        self.inner.update_product(id, changes, now).await
    }
    async fn all_stock(&self) -> StoreResult<Vec<StockRecord>> {
        self.inner.all_stock().await
    }
    async fn stock_of(&self, product: ProductId) -> StoreResult<Option<StockRecord>> {
        self.inner.stock_of(product).await
    }
}

#[async_trait]
impl LineStore for CachedStore {
    async fn join_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(JoinOutcome, Subscription)> {
        self.inner.join_line(product, user, now).await
    }
    async fn leave_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner.leave_line(product, user, now).await
    }
    async fn user_subscriptions(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Subscription>> {
        self.inner.user_subscriptions(user, page).await
    }
    async fn import_line(
        &self,
        product: ProductId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> StoreResult<ImportOutcome> {
        self.inner.import_line(product, users, now).await
    }
    async fn line_page(
        &self,
        product: ProductId,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> StoreResult<Vec<Subscription>> {
        self.inner.line_page(product, after, upto, limit).await
    }
}

#[async_trait]
impl OrderStore for CachedStore {
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
        let _changing = Changing::new(&self.cache, req.product_id);
        self.inner.place_order(req, now).await
    }
    async fn order_by_key(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<Order>> {
        self.inner.order_by_key(user, key).await
    }
    async fn get_order(&self, id: OrderId) -> StoreResult<Option<Order>> {
        self.inner.get_order(id).await
    }
    async fn user_orders(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Order>> {
        self.inner.user_orders(user, page).await
    }
    async fn pay_order(
        &self,
        id: OrderId,
        payment: &PaymentRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        let done = self.inner.pay_order(id, payment, now).await;
        self.after(&done, returned_units);
        done
    }
    async fn cancel_order(&self, id: OrderId, now: DateTime<Utc>) -> StoreResult<Transition> {
        let done = self.inner.cancel_order(id, now).await;
        self.after(&done, returned_units);
        done
    }
    async fn units_held(&self, product: ProductId) -> StoreResult<i64> {
        self.inner.units_held(product).await
    }
    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        let done = self.inner.expire_due(now, limit).await;
        self.after(&done, |e| e.returned.iter().map(|r| r.product).collect());
        done
    }
}

#[async_trait]
impl RoundStore for CachedStore {
    async fn open_round(
        &self,
        product: ProductId,
        quantity: i64,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<(Round, StockVersion)> {
        let _changing = Changing::new(&self.cache, product);
        self.inner.open_round(product, quantity, lease, now).await
    }
    async fn resume_round(
        &self,
        product: ProductId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Round> {
        self.inner.resume_round(product, lease, now).await
    }
    async fn get_round(&self, product: ProductId, round: i64) -> StoreResult<Option<Round>> {
        self.inner.get_round(product, round).await
    }
    async fn list_rounds(&self, product: ProductId, page: &PageRequest) -> StoreResult<Vec<Round>> {
        self.inner.list_rounds(product, page).await
    }
    async fn recipients(
        &self,
        product: ProductId,
        round: i64,
        page: &PageRequest,
    ) -> StoreResult<Vec<Recipient>> {
        self.inner.recipients(product, round, page).await
    }
    async fn recipients_among(
        &self,
        product: ProductId,
        round: i64,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, i64)>> {
        self.inner.recipients_among(product, round, users).await
    }
    async fn record_progress(
        &self,
        product: ProductId,
        round: i64,
        rows: &[Recipient],
        checkpoint: &Checkpoint,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .record_progress(product, round, rows, checkpoint, lease, now)
            .await
    }
    async fn finish_round(
        &self,
        product: ProductId,
        round: i64,
        status: RoundStatus,
        error: Option<&str>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .finish_round(product, round, status, error, owner, now)
            .await
    }
    async fn release_round(&self, product: ProductId, round: i64, owner: &str) -> StoreResult<()> {
        self.inner.release_round(product, round, owner).await
    }
    async fn claim_rounds(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(ProductId, i64)>> {
        self.inner.claim_rounds(lease, now, limit).await
    }
    async fn round_owners(&self, me: &str) -> StoreResult<Vec<String>> {
        self.inner.round_owners(me).await
    }
    async fn take_rounds_of(
        &self,
        owner: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        self.inner.take_rounds_of(owner, lease, now).await
    }
}

#[async_trait]
impl DrawStore for CachedStore {
    async fn enter(
        &self,
        product: ProductId,
        user: UserId,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> StoreResult<(EntryOutcome, Entry)> {
        self.inner.enter(product, user, quantity, now).await
    }
    async fn withdraw(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner.withdraw(product, user, now).await
    }
    async fn user_entries(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Entry>> {
        self.inner.user_entries(user, page).await
    }
    async fn draw_record(&self, product: ProductId) -> StoreResult<Option<DrawRecord>> {
        self.inner.draw_record(product).await
    }
    async fn draw_entries(
        &self,
        product: ProductId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Entry>> {
        self.inner.draw_entries(product, page).await
    }
    async fn due_draws(&self, now: DateTime<Utc>) -> StoreResult<Vec<ProductId>> {
        self.inner.due_draws(now).await
    }
    async fn run_draw(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<Option<DrawOutcome>> {
        let _changing = Changing::new(&self.cache, product);
        self.inner.run_draw(product, now, notify_lease).await
    }
    async fn waitlists_to_offer(&self) -> StoreResult<Vec<ProductId>> {
        self.inner.waitlists_to_offer().await
    }
    async fn promote_waitlist(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<DrawOutcome> {
        let _changing = Changing::new(&self.cache, product);
        self.inner
            .promote_waitlist(product, now, notify_lease)
            .await
    }
    async fn unnotified_wins(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Win>> {
        self.inner.unnotified_wins(now, limit).await
    }
    async fn claim_win_notice(
        &self,
        win: &Win,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.claim_win_notice(win, now, until).await
    }
    async fn win_notified(&self, win: &Win, now: DateTime<Utc>) -> StoreResult<()> {
        self.inner.win_notified(win, now).await
    }
}
