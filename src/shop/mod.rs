//! The shop's use cases that sit between HTTP and storage: the stock gate, orders and holds.

pub mod batches;
pub mod claims;
pub mod detach;
pub mod draw_worker;
pub mod draws;
pub mod holds;
pub mod keys;
pub mod orders;
pub mod restock;
pub mod sweeper;

use std::sync::Arc;
use tokio_util::task::TaskTracker;

use crate::domain::clock::Clock;
use crate::store::Store;

/// What the shop's use cases work with; cheap to clone.
#[derive(Clone)]
pub struct Shop {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The stock gate in front of it.
    pub gate: Arc<crate::gate::StockGate>,
    /// The server's clock.
    pub clock: Clock,
    /// Where detached work runs (see [`detach`]).
    pub tasks: TaskTracker,
    /// Serialises one user's requests with the same idempotency key.
    pub key_locks: Arc<keys::KeyLocks>,
}
