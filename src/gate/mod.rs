//! The in-process stock gate: a fast counter per product in front of the database.
//!
//! Orders take units here before touching the database, so a sold-out request is answered
//! without a write; every change is published on a `watch` channel so the restock engine
//! learns of a sell-out the instant it happens.

pub mod expiry;
mod feed;
pub mod sync;
pub mod take;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::watch;

use crate::coord::stock::{RedisStock, SharedLevel};
use crate::domain::ids::ProductId;

/// What the gate knows of one product's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StockLevel {
    /// Units free to take now (already net of `pending`).
    pub available: i64,
    /// Units taken by orders whose database commit has not finished yet.
    pub pending: i64,
}

impl StockLevel {
    /// Nothing left and nothing that could come back from a failed order.
    pub fn is_sold_out(&self) -> bool {
        self.available <= 0 && self.pending <= 0
    }
}

/// The per-product counters.
///
/// The map's lock only guards adding products; each product's level is changed under the
/// `watch` channel's own lock (`send_if_modified`), so a take and its publication are one step.
///
/// With several instances, `shared` holds the counters in Redis (see `gate::take`) and the
/// local levels become a mirror of the shared ones, fed by each change's publication.
/// While that Redis cannot be used the mirror may be stale: the gate is then not trusted,
/// and nobody may conclude from it that a product sold out.
pub struct StockGate {
    products: RwLock<HashMap<ProductId, watch::Sender<StockLevel>>>,
    pub(super) shared: Option<Arc<RedisStock>>,
    /// The newest shared version mirrored per product; the lock also orders the mirror
    /// updates, so an older answer or message never overwrites a newer level.
    mirrored: Mutex<HashMap<ProductId, i64>>,
    /// Whether the levels can be believed (always, in-process; with Redis, while it is usable
    /// and the mirror was refreshed since it last was not).
    trusted: watch::Sender<bool>,
    /// Counts this process's claim changes (used, released, expired), so a claim round
    /// that waits for its open claims to end learns of it at once.
    claims: watch::Sender<u64>,
}

impl Default for StockGate {
    fn default() -> Self {
        Self {
            products: RwLock::default(),
            shared: None,
            mirrored: Mutex::default(),
            trusted: watch::Sender::new(true),
            claims: watch::Sender::new(0),
        }
    }
}

impl std::fmt::Debug for StockGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StockGate")
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl StockGate {
    /// An empty in-process gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// A gate whose counters live in Redis, shared by every instance.
    pub fn shared(redis: Arc<RedisStock>) -> Self {
        Self {
            products: RwLock::default(),
            shared: Some(redis),
            mirrored: Mutex::default(),
            trusted: watch::Sender::new(false),
            claims: watch::Sender::new(0),
        }
    }

    /// Whether the levels can be believed: a shared gate whose Redis cannot be used (or was
    /// not refreshed since) is not, and a level of 0 then means nothing.
    pub fn trusted(&self) -> bool {
        *self.trusted.borrow()
    }

    /// Follows [`StockGate::trusted`].
    pub fn watch_trusted(&self) -> watch::Receiver<bool> {
        self.trusted.subscribe()
    }

    /// Records whether the shared levels can be believed (the Redis health check).
    pub fn set_trusted(&self, trusted: bool) {
        self.trusted.send_if_modified(|t| {
            let changed = *t != trusted;
            *t = trusted;
            changed
        });
    }

    /// Tells the claim rounds waiting here that a claim was used, released or expired.
    pub fn claims_changed(&self) {
        self.claims.send_modify(|n| *n += 1);
    }

    /// Follows [`StockGate::claims_changed`].
    pub fn watch_claims(&self) -> watch::Receiver<u64> {
        self.claims.subscribe()
    }

    /// Sold out for sure: nothing left, nothing in flight, and the level is believed.
    pub fn sold_out(&self, level: &StockLevel) -> bool {
        level.is_sold_out() && self.trusted()
    }

    /// The Redis side, when the gate is shared.
    pub fn shared_backend(&self) -> Option<&Arc<RedisStock>> {
        self.shared.as_ref()
    }

    /// Mirrors a level read from the shared counters, unless a newer one is mirrored already.
    pub fn mirror(&self, seen: SharedLevel) {
        let mut mirrored = match self.mirrored.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let last = mirrored.entry(seen.product).or_insert(i64::MIN);
        if seen.version <= *last {
            return;
        }
        *last = seen.version;
        let level = StockLevel {
            available: seen.available,
            pending: seen.pending,
        };
        self.sender(seen.product).send_if_modified(|l| {
            let changed = *l != level;
            *l = level;
            changed
        });
    }

    /// Mirrors every level in `seen`.
    pub fn mirror_all(&self, seen: impl IntoIterator<Item = SharedLevel>) {
        for s in seen {
            self.mirror(s);
        }
    }

    fn sender(&self, product: ProductId) -> watch::Sender<StockLevel> {
        if let Ok(map) = self.products.read()
            && let Some(tx) = map.get(&product)
        {
            return tx.clone();
        }
        let mut map = match self.products.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(product)
            .or_insert_with(|| watch::Sender::new(StockLevel::default()))
            .clone()
    }

    /// Whether the gate has a counter for `product`.
    pub fn knows(&self, product: ProductId) -> bool {
        self.products
            .read()
            .map(|m| m.contains_key(&product))
            .unwrap_or(false)
    }

    /// Sets a product's free stock to the database's figure (start-up, creation, resync).
    pub fn load(&self, product: ProductId, stock: i64) {
        self.sender(product)
            .send_modify(|l| l.available = stock - l.pending);
    }

    /// Loads a product's free stock only when the gate has no counter for it yet, so two
    /// requests that both found it unknown cannot reset a level the first one already moved.
    pub fn load_if_unknown(&self, product: ProductId, stock: i64) {
        let mut map = match self.products.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(product).or_insert_with(|| {
            watch::Sender::new(StockLevel {
                available: stock,
                pending: 0,
            })
        });
    }

    /// The current level of one product.
    pub fn level(&self, product: ProductId) -> StockLevel {
        *self.sender(product).borrow()
    }

    /// Follows a product's level as it changes.
    pub fn subscribe(&self, product: ProductId) -> watch::Receiver<StockLevel> {
        self.sender(product).subscribe()
    }

    /// Takes `quantity` units for an order about to be written, or None when there are not enough.
    pub fn try_take(self: &Arc<Self>, product: ProductId, quantity: i64) -> Option<GateHold> {
        let tx = self.sender(product);
        let taken = tx.send_if_modified(|l| {
            if l.available >= quantity {
                l.available -= quantity;
                l.pending += quantity;
                true
            } else {
                false
            }
        });
        taken.then(|| GateHold {
            tx,
            quantity,
            settled: false,
        })
    }

    /// Waits (at most `limit`) until no units of `product` are in flight.
    pub async fn settled(&self, product: ProductId, limit: std::time::Duration) {
        let mut rx = self.subscribe(product);
        let _ = tokio::time::timeout(limit, rx.wait_for(|l| l.pending <= 0)).await;
    }

    /// Every product's current level, for the metrics scrape.
    pub fn snapshot(&self) -> Vec<(ProductId, StockLevel)> {
        match self.products.read() {
            Ok(map) => map.iter().map(|(p, tx)| (*p, *tx.borrow())).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Returns units to the gate after a committed cancel, expiry or restock.
    pub fn add(&self, product: ProductId, quantity: i64) {
        self.sender(product)
            .send_modify(|l| l.available += quantity);
    }
}

/// Units taken from the gate for one order. Commit it after the database commit; if it is
/// dropped without a commit the units go back, so a failed or abandoned order never strands them.
#[derive(Debug)]
pub struct GateHold {
    tx: watch::Sender<StockLevel>,
    quantity: i64,
    settled: bool,
}

impl GateHold {
    /// The database took the units: they leave the gate for good.
    pub fn commit(mut self) {
        self.settled = true;
        let q = self.quantity;
        self.tx.send_modify(|l| l.pending -= q);
    }
}

impl Drop for GateHold {
    fn drop(&mut self) {
        if !self.settled {
            let q = self.quantity;
            self.tx.send_modify(|l| {
                l.pending -= q;
                l.available += q;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_never_exceed_the_loaded_stock() {
        let gate = Arc::new(StockGate::new());
        let p = ProductId::from_db(1);
        gate.load(p, 3);
        let a = gate.try_take(p, 2).unwrap();
        assert!(gate.try_take(p, 2).is_none());
        let b = gate.try_take(p, 1).unwrap();
        assert_eq!(
            gate.level(p),
            StockLevel {
                available: 0,
                pending: 3
            }
        );
        assert!(!gate.level(p).is_sold_out());
        a.commit();
        drop(b);
        assert_eq!(
            gate.level(p),
            StockLevel {
                available: 1,
                pending: 0
            }
        );
        gate.try_take(p, 1).unwrap().commit();
        assert!(gate.level(p).is_sold_out());
    }

    #[test]
    fn watchers_see_every_change() {
        let gate = Arc::new(StockGate::new());
        let p = ProductId::from_db(7);
        gate.load(p, 1);
        let mut rx = gate.subscribe(p);
        rx.mark_unchanged();
        gate.try_take(p, 1).unwrap().commit();
        assert!(rx.has_changed().unwrap());
        assert!(rx.borrow_and_update().is_sold_out());
    }
}
