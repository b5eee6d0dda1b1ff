//! Product reads from memory: an in-process copy of products, dropped entry by entry by the
//! store's own writes (see `decorator`) and, with several instances, by a change feed.
//!
//! An entry is filled only from a database read that no change overlapped, and never served
//! while a write that may change its product is in flight: a write drops its product's entry
//! and bumps its generation when it starts and again when it ends (also when the write's
//! future is dropped), no entry of a product being written is filled, and a fill that saw an
//! older generation is thrown away. A write that learns its products only from its answer (a
//! sweep) holds every product's entry back while it runs. With a feed, entries are served only
//! while the feed has been heard from recently; a lost or silent feed empties the copy and
//! reads go to the database until it is heard again.

mod decorator;
mod write_guards;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

use crate::domain::ids::ProductId;
use crate::domain::product::Product;
pub use decorator::CachedStore;
pub(crate) use write_guards::{Changing, Sweeping};

/// Longest an entry is served without being read again, whatever the feed says: bounds what
/// a change that never reached the feed (an operator's SQL, a publish that failed) can hide.
pub const ENTRY_TTL: Duration = Duration::from_secs(1);

/// Longest the feed may stay silent (the instance's own heartbeat included) and still vouch
/// for the entries.
pub const FEED_SILENCE: Duration = Duration::from_secs(1);

/// Most products held; past it, reads of further products go to the database.
pub const MAX_ENTRIES: usize = 100_000;

/// A change to announce to the other instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// One product's row changed.
    Product(ProductId),
    /// Anything may have changed (a write whose outcome is unknown).
    All,
}

/// The copy of products.
///
/// `slots` is guarded by its lock; a slot's generation only grows and outlives its entry, and
/// its writer count says how many writes of its product are in flight. `sweeping` counts the
/// writes in flight whose products are not known before they end.
/// `epoch` grows with every drop of the whole copy and voids every entry and fill from
/// before; `absent` grows with every change to a product that had no slot and found the map
/// full, which voids the fills that started while their product had none.
pub struct ProductCache {
    slots: RwLock<HashMap<ProductId, Slot>>,
    epoch: AtomicU64,
    absent: AtomicU64,
    sweeping: AtomicU64,
    /// Set for a copy shared through a feed: the last time the feed was heard from, in
    /// milliseconds since `started` (0: not since it was last lost).
    fed: Option<AtomicU64>,
    started: Instant,
    changes: Option<mpsc::UnboundedSender<Change>>,
    /// Reads answered from memory, for operators and tests; ordering does not matter.
    hits: AtomicU64,
}

#[derive(Default)]
struct Slot {
    generation: u64,
    writers: u32,
    entry: Option<Entry>,
}

struct Entry {
    product: Arc<Product>,
    epoch: u64,
    filled: Instant,
}

/// What a read found.
#[derive(Debug)]
pub enum Lookup {
    /// The product as the database last had it.
    Hit(Box<Product>),
    /// Not held: read the database, then offer the row to [`ProductCache::fill`].
    Miss(Ticket),
    /// The copy cannot vouch for anything now: read the database and keep nothing.
    Bypass,
}

/// What a product's entry looked like when a read missed, to tell whether the database
/// read that follows overlapped a change.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    product: ProductId,
    epoch: u64,
    /// The slot's generation, or `absent` when it had no slot.
    generation: Option<u64>,
    absent: u64,
}

impl ProductCache {
    /// A copy for one instance alone: its own writes are the only changes.
    pub fn local() -> Self {
        Self::new(None, None)
    }

    /// A copy shared with other instances through a feed: changes go out on the receiver,
    /// and nothing is served until [`ProductCache::heard`] is first called.
    pub fn fed() -> (Self, mpsc::UnboundedReceiver<Change>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self::new(Some(AtomicU64::new(0)), Some(tx)), rx)
    }

    fn new(fed: Option<AtomicU64>, changes: Option<mpsc::UnboundedSender<Change>>) -> Self {
        Self {
            slots: RwLock::default(),
            epoch: AtomicU64::new(0),
            absent: AtomicU64::new(0),
            sweeping: AtomicU64::new(0),
            fed,
            started: Instant::now(),
            changes,
            hits: AtomicU64::new(0),
        }
    }

    fn millis(&self) -> u64 {
        // Never 0, which means "not heard".
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// Whether the entries may be served now.
    fn vouched(&self) -> bool {
        match &self.fed {
            None => true,
            Some(heard) => {
                let last = heard.load(Ordering::Acquire);
                last != 0 && self.millis() - last <= FEED_SILENCE.as_millis() as u64
            }
        }
    }

    /// Looks a product up.
    pub fn get(&self, product: ProductId) -> Lookup {
        if !self.vouched() {
            return Lookup::Bypass;
        }
        let slots = read(&self.slots);
        let epoch = self.epoch.load(Ordering::Acquire);
        let slot = slots.get(&product);
        if let Some(e) = slot.and_then(|s| s.entry.as_ref())
            && self.sweeping.load(Ordering::Acquire) == 0
            && e.epoch == epoch
            && e.filled.elapsed() < ENTRY_TTL
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Lookup::Hit(Box::new(Product::clone(&e.product)));
        }
        Lookup::Miss(Ticket {
            product,
            epoch,
            generation: slot.map(|s| s.generation),
            absent: self.absent.load(Ordering::Acquire),
        })
    }

    /// Keeps a row read from the database after `ticket`'s miss, unless a change may have
    /// overlapped the read.
    pub fn fill(&self, ticket: Ticket, product: &Product) {
        let mut slots = write(&self.slots);
        if !self.vouched()
            || self.epoch.load(Ordering::Acquire) != ticket.epoch
            || self.sweeping.load(Ordering::Acquire) != 0
        {
            return;
        }
        let slot = slots.get(&ticket.product);
        if slot.is_some_and(|s| s.writers > 0) {
            return;
        }
        let current = slot.map(|s| s.generation);
        let unchanged = match (ticket.generation, current) {
            (Some(seen), Some(now)) => seen == now,
            (None, None) => ticket.absent == self.absent.load(Ordering::Acquire),
            _ => false,
        };
        if !unchanged || (current.is_none() && slots.len() >= MAX_ENTRIES) {
            return;
        }
        slots.entry(ticket.product).or_default().entry = Some(Entry {
            product: Arc::new(product.clone()),
            epoch: ticket.epoch,
            filled: Instant::now(),
        });
    }

    /// Drops a product's entry because it changed here or elsewhere.
    pub fn invalidate(&self, product: ProductId) {
        self.touch(product, 0);
    }

    /// Drops the product's entry, voids its reads in flight and moves its writer count by
    /// `writers`.
    fn touch(&self, product: ProductId, writers: i32) {
        let mut slots = write(&self.slots);
        if let Some(slot) = slots.get_mut(&product) {
            slot.generation += 1;
            slot.writers = slot.writers.saturating_add_signed(writers);
            slot.entry = None;
        } else if slots.len() < MAX_ENTRIES {
            // A slot of its own, so the change voids only this product's reads in flight.
            slots.insert(
                product,
                Slot {
                    generation: 1,
                    writers: writers.max(0) as u32,
                    entry: None,
                },
            );
        } else {
            // No slot and no room for one: fills of products without a slot are refused
            // while the map is full, so nothing of this product is held or kept.
            self.absent.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// A write that may change `product` starts: its entry is dropped and none is filled
    /// until [`ProductCache::end_change`].
    fn begin_change(&self, product: ProductId) {
        self.touch(product, 1);
    }

    /// The write begun by [`ProductCache::begin_change`] ended (committed, refused or
    /// abandoned): reads that overlapped it are not kept.
    fn end_change(&self, product: ProductId) {
        self.touch(product, -1);
    }

    /// Drops every entry. Products being written keep their slots (and so their writer
    /// counts), with no entry.
    pub fn invalidate_all(&self) {
        let mut slots = write(&self.slots);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        slots.retain(|_, s| s.writers > 0);
        for slot in slots.values_mut() {
            slot.generation += 1;
            slot.entry = None;
        }
    }

    /// A write on this instance changed the product (or everything): drop it here and
    /// announce it to the other instances.
    pub fn changed(&self, change: Change) {
        match change {
            Change::Product(p) => self.invalidate(p),
            Change::All => self.invalidate_all(),
        }
        self.announce(change);
    }

    fn announce(&self, change: Change) {
        if let Some(tx) = &self.changes {
            // Only fails once the feed has stopped, at shutdown.
            let _ = tx.send(change);
        }
    }

    /// The feed delivered something: it vouches for the entries again. After a silence,
    /// messages may have been missed, so everything held from before is dropped.
    pub fn heard(&self) {
        let Some(heard) = &self.fed else { return };
        if !self.vouched() {
            self.invalidate_all();
        }
        heard.store(self.millis(), Ordering::Release);
    }

    /// The feed's subscription ended: nothing is served until it is heard again.
    pub fn feed_lost(&self) {
        if let Some(heard) = &self.fed {
            heard.store(0, Ordering::Release);
        }
        self.invalidate_all();
    }

    /// How many reads were answered from memory so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Whether entries are served now (a fed copy whose feed is lost or silent is not).
    pub fn is_serving(&self) -> bool {
        self.vouched()
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
