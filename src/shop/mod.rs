//! The use cases: what HTTP (and the workers) ask for, decided here and written through the
//! store. Orders and holds, claims, the line, products, brands, rounds, draws, the waiting
//! room, readiness.

pub mod batches;
pub mod brands;
pub mod claims;
pub mod deliveries;
pub mod detach;
pub mod draws;
pub mod holds;
pub mod key_locks;
pub mod line;
pub mod orders;
pub mod products;
pub mod queue;
pub mod readiness;
pub mod restock;
pub mod rounds;
pub mod sweeper;

use std::future::Future;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

use crate::domain::clock::Clock;
use crate::domain::page::{Page, PageRequest};
use crate::store::{Store, StoreResult};

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
    /// The waiting rooms watched by event streams here.
    pub live_rooms: Arc<queue::live::LiveRooms>,
}

/// The page of `page` from `rows`, a read of up to `page.fetch()` rows, with each row's
/// cursor from `key`.
pub(crate) async fn paged<T>(
    page: &PageRequest,
    rows: impl Future<Output = StoreResult<Vec<T>>>,
    key: impl Fn(&T) -> i64,
) -> StoreResult<Page<T>> {
    Ok(Page::from_rows(rows.await?, page, key))
}
