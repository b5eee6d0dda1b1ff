//! The store with product reads from memory: every call goes to the database store it wraps;
//! `get_product` is answered from the copy when it can be, and every write that changes a
//! product row drops that product's entry before it answers.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::{Change, Changing, Lookup, ProductCache, Sweeping};
use crate::domain::brand::{Brand, NewBrand};
use crate::domain::claim::{Claim, ClaimCounts};
use crate::domain::draw::{DrawOutcome, DrawRecord, Entry, EntryOutcome, Win};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Returned;
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, StockVersion, Transition,
};
use crate::domain::page::PageRequest;
use crate::domain::product::{NewProduct, Product, ProductChanges};
use crate::domain::round::{Checkpoint, Lease, Recipient, Round, RoundStatus};
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::claims::{ClaimFor, ClaimsExpired, Made};
use crate::store::draws::Entering;
use crate::store::{
    AdminStore, Backend, CatalogStore, ClaimStore, DrawStore, LineStore, OrderStore, RoundStore,
    StockRecord, Store, StoreError, StoreResult,
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
            Err(StoreError::Database(_) | StoreError::Internal(_) | StoreError::Unreachable(_)) => {
                self.cache.changed(Change::All);
            }
            Err(_) => {}
        }
    }
}

/// Implements a store trait for [`CachedStore`] from a list of its methods by name, arguments
/// and result. Those in the first list only pass the call on to the wrapped store; those in
/// `changing` first mark the product the expression after them names as changing (its
/// entry is dropped, and no read fills it until the call is over); those in `after` drop
/// what the function after them finds changed in the answer; those in `sweeping` do the same
/// and hold every entry back while they run (their products are known only from the
/// answer); `own` holds the rest.
macro_rules! wrap {
    (
        $store:ident {
            $($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*
        }
        $(changing {
            $($c_name:ident($($c_arg:ident: $c_ty:ty),*) -> $c_ret:ty, $product:expr;)*
        })?
        $(after {
            $($a_name:ident($($a_arg:ident: $a_ty:ty),*) -> $a_ret:ty, $changed:expr;)*
        })?
        $(sweeping {
            $($s_name:ident($($s_arg:ident: $s_ty:ty),*) -> $s_ret:ty, $swept:expr;)*
        })?
        $(own { $($own:tt)* })?
    ) => {
        #[async_trait]
        impl $store for CachedStore {
            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    self.inner.$name($($arg),*).await
                }
            )*
            $($(
                async fn $c_name(&self, $($c_arg: $c_ty),*) -> StoreResult<$c_ret> {
                    let _changing = Changing::new(&self.cache, $product);
                    self.inner.$c_name($($c_arg),*).await
                }
            )*)?
            $($(
                async fn $a_name(&self, $($a_arg: $a_ty),*) -> StoreResult<$a_ret> {
                    let done = self.inner.$a_name($($a_arg),*).await;
                    self.after(&done, $changed);
                    done
                }
            )*)?
            $($(
                async fn $s_name(&self, $($s_arg: $s_ty),*) -> StoreResult<$s_ret> {
                    let sweeping = Sweeping::new(&self.cache);
                    let done = self.inner.$s_name($($s_arg),*).await;
                    self.after(&done, $swept);
                    sweeping.answered();
                    done
                }
            )*)?
            $($($own)*)?
        }
    };
}

wrap! {
    AdminStore {
        migrate() -> ();
        ping() -> ();
        deployment_id() -> String;
    }
    own {
        fn backend(&self) -> Backend {
            self.inner.backend()
        }
        async fn close(&self) {
            self.inner.close().await
        }
    }
}

wrap! {
    CatalogStore {
        create_brand(brand: &NewBrand, now: DateTime<Utc>) -> Brand;
        list_brands(page: &PageRequest) -> Vec<Brand>;
        // Nothing to drop: only products that exist are held.
        create_product(product: &NewProduct, now: DateTime<Utc>) -> Product;
        list_products(page: &PageRequest) -> Vec<Product>;
        all_stock() -> Vec<StockRecord>;
        stock_of(product: ProductId) -> Option<StockRecord>;
    }
    changing {
        update_product(id: ProductId, changes: &ProductChanges, now: DateTime<Utc>) -> Product, id;
    }
    own {
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
    }
}

wrap! {
    LineStore {
        join_line(product: ProductId, user: UserId, now: DateTime<Utc>) -> (JoinOutcome, Subscription);
        leave_line(product: ProductId, user: UserId, now: DateTime<Utc>) -> ();
        line_place(product: ProductId, user: UserId) -> Option<(Subscription, i64)>;
        user_subscriptions(user: UserId, page: &PageRequest) -> Vec<Subscription>;
        import_line(product: ProductId, users: &[UserId], now: DateTime<Utc>) -> ImportOutcome;
        line_page(product: ProductId, after: i64, upto: i64, limit: i64) -> Vec<Subscription>;
    }
}

wrap! {
    OrderStore {
        order_by_key(user: UserId, key: &IdempotencyKey) -> Option<Order>;
        get_order(id: OrderId) -> Option<Order>;
        user_orders(user: UserId, page: &PageRequest) -> Vec<Order>;
        units_held(product: ProductId) -> i64;
    }
    changing {
        place_order(req: &OrderRequest, now: DateTime<Utc>) -> Placement, req.product_id;
        cancel_order(id: OrderId, product: ProductId, now: DateTime<Utc>) -> Transition, product;
    }
    after {
        // A pay returns units only when it finds the hold ended: rare, and the entry of the
        // product being paid for stays served meanwhile.
        pay_order(id: OrderId, product: ProductId, payment: &PaymentRef, now: DateTime<Utc>) -> Transition, returned_units;
    }
    sweeping {
        expire_due(now: DateTime<Utc>, limit: i64) -> Expired, |e: &Expired| e.returned.iter().map(|r| r.product).collect();
    }
}

wrap! {
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
    changing {
        open_round(product: ProductId, quantity: i64, lease: &Lease, now: DateTime<Utc>) -> (Round, StockVersion), product;
    }
}

wrap! {
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
    changing {
        run_draw(product: ProductId, now: DateTime<Utc>, notify_lease: DateTime<Utc>) -> Option<DrawOutcome>, product;
        promote_waitlist(product: ProductId, now: DateTime<Utc>, notify_lease: DateTime<Utc>) -> DrawOutcome, product;
    }
}

wrap! {
    ClaimStore {
        claim_notified(claim: &Claim, sent_at: DateTime<Utc>) -> ();
        unsent_claims(product: ProductId, round: i64) -> Vec<Claim>;
        claims_now(product: ProductId, round: i64) -> (ClaimCounts, Option<DateTime<Utc>>);
        open_claim_of(product: ProductId, user: UserId) -> Option<Claim>;
        round_claims(product: ProductId, round: i64, page: &PageRequest) -> Vec<Claim>;
        user_claims(user: UserId, page: &PageRequest) -> Vec<Claim>;
    }
    changing {
        make_claim(member: ClaimFor, lease: &Lease, now: DateTime<Utc>) -> Made, member.product;
        release_claims(product: ProductId, user: UserId, now: DateTime<Utc>) -> Option<Returned>, product;
        place_claimed_order(req: &OrderRequest, now: DateTime<Utc>) -> Option<Placement>, req.product_id;
    }
    sweeping {
        expire_claims(now: DateTime<Utc>, limit: i64) -> ClaimsExpired, |e: &ClaimsExpired| e.returned.iter().map(|r| r.product).collect();
    }
}
