//! The use cases: what HTTP (and the workers) ask for, decided here and written through the
//! store. Orders and holds, claims, the line, products, brands, rounds, draws, readiness.

pub mod batches;
pub mod brands;
pub mod claims;
pub mod detach;
pub mod draws;
pub mod holds;
pub mod key_locks;
pub mod line;
pub mod orders;
pub mod products;
pub mod readiness;
pub mod rounds;
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
    pub key_locks: Arc<key_locks::KeyLocks>,
}
