//! What every request handler and worker shares.

use std::sync::Arc;

use crate::auth::TokenKeys;
use crate::domain::clock::Clock;
use crate::events::EventHub;
use crate::gate::StockGate;
use crate::notify::Notifier;
use crate::shop::Shop;
use crate::shop::key_locks::KeyLocks;
use crate::shop::queue::live::LiveRooms;
use crate::store::Store;
use crate::store::cache::ProductCache;
use tokio_util::task::TaskTracker;

/// The service's shared parts; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Token signing and checking.
    pub keys: TokenKeys,
    /// The server's clock (tests move it forward).
    pub clock: Clock,
    /// The copy of products `store` answers product reads from.
    pub products: Arc<ProductCache>,
    /// The stock gate in front of the database.
    pub gate: Arc<StockGate>,
    /// Live round progress for the operators' event stream.
    pub events: Arc<EventHub>,
    /// The restock round engine.
    pub notifier: Notifier,
    /// Work that must outlive the request that started it (see `shop::detach`); awaited on
    /// shutdown with the background workers.
    pub tasks: TaskTracker,
    /// Serialises one user's requests with the same idempotency key.
    pub key_locks: Arc<KeyLocks>,
    /// The waiting rooms watched by event streams here.
    pub live_rooms: Arc<LiveRooms>,
}

impl AppState {
    /// The parts the shop's use cases work with.
    pub fn shop(&self) -> Shop {
        Shop {
            store: self.store.clone(),
            gate: self.gate.clone(),
            clock: self.clock.clone(),
            tasks: self.tasks.clone(),
            key_locks: self.key_locks.clone(),
            live_rooms: self.live_rooms.clone(),
        }
    }
}
