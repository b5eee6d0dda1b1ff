//! One round's run as its tasks share it: the context (`RoundCtx`), the line's members on
//! the walk, how each member's turn ended, why a round stops early; and how a run of either
//! kind begins.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::parts::{Inner, lock};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::round::Round;
use crate::store::StoreResult;

/// Why a round stops before the end of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The stock reached 0.
    SoldOut,
    /// The channel failed for good; the text is the round's error.
    Failed(String),
}

/// What every task of one run shares.
pub(crate) struct RoundCtx {
    pub inner: Arc<Inner>,
    pub product: ProductId,
    pub round: i64,
    pub product_name: Arc<str>,
    /// Cancelled when the round must stop starting requests (sold out, failure, shutdown).
    pub stop: CancellationToken,
    /// The run's own tasks (the read-ahead, each delivery); the run waits for them.
    pub tasks: TaskTracker,
    /// The first reason to stop wins; guarded by its lock.
    ending: Mutex<Option<Ending>>,
    /// Outcomes the walk has promised the bookkeeping: members skipped, and members it took
    /// a permit for.
    dispatched: AtomicU64,
}

impl RoundCtx {
    /// The context of a run of `round` of `product` (named `product_name`), stopped with the
    /// engine.
    pub fn new(inner: &Arc<Inner>, product: ProductId, round: i64, product_name: &str) -> Self {
        Self {
            inner: inner.clone(),
            product,
            round,
            product_name: Arc::from(product_name),
            stop: inner.shutdown.child_token(),
            tasks: TaskTracker::new(),
            ending: Mutex::new(None),
            dispatched: AtomicU64::new(0),
        }
    }

    /// Counts one more outcome the walk owes the bookkeeping.
    pub fn dispatched_one(&self) {
        self.dispatched.fetch_add(1, Ordering::Release);
    }

    /// Records why the round stops (unless a reason is already known) and stops it.
    pub fn end(&self, why: Ending) {
        lock(&self.ending).get_or_insert(why);
        self.stop.cancel();
    }

    /// Whether, with `received` outcomes taken in, nothing more can arrive before they are
    /// written: every member the walk took a permit for has reported, and no free permit
    /// lets it start another (the permits travel with the outcomes and are dropped only
    /// after their write).
    pub fn settled(&self, received: u64) -> bool {
        received >= self.dispatched.load(Ordering::Acquire)
            && self.inner.permits.available_permits() == 0
    }

    /// Why the round stopped, if it did.
    pub fn ending(&self) -> Option<Ending> {
        lock(&self.ending).clone()
    }
}

/// One member of the line on the round's walk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Item {
    /// Order of the walk within this run.
    pub seq: u64,
    /// The member's line id.
    pub line_id: i64,
    /// The member.
    pub user: UserId,
    /// Whether the member lies in the wrapped part of the walk.
    pub wrapped: bool,
    /// 1-based place within the round.
    pub position: i64,
}

/// How one member's turn ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// Notified at the given time.
    Sent(DateTime<Utc>),
    /// Already in the round's history: not sent again.
    Skipped,
    /// Not notified (failed, or the round stopped before it started or before a retry).
    Broken,
}

/// One member's outcome, as the bookkeeping receives it.
#[derive(Debug)]
pub(crate) struct Done {
    pub item: Item,
    pub outcome: Outcome,
    /// The in-flight permit the member's request held (None for a member skipped); the
    /// bookkeeping drops it once the outcome is written.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// How a run of `round` (of either kind) begins: its product's name, once the gate has the
/// product's stock from the gate's truth (a mirror may not have heard of the product yet) and
/// the round's start is announced. None when the run must not go on: the product is gone, or
/// the gate does not answer (the round is released and waits for recovery; that ends nothing).
pub(crate) async fn begin(inner: &Inner, round: &Round) -> StoreResult<Option<String>> {
    let (store, gate) = (&inner.parts.store, &inner.parts.gate);
    let (product, number) = (round.product_id, round.round);
    let Some(p) = store.get_product(product).await? else {
        return Ok(None);
    };
    if let Some(record) = store.stock_of(product).await?
        && let Err(e) = gate.ensure_loaded(record).await
    {
        tracing::warn!(%product, round = number, error = %e, "the stock gate does not answer; the round waits for recovery");
        store.release_round(product, number, &inner.owner).await?;
        return Ok(None);
    }
    inner
        .parts
        .events
        .begin(round, gate.level(product).available, inner.now());
    Ok(Some(p.name))
}
