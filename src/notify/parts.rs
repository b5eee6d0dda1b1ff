//! What the engine runs on and what every run shares: its tuning, its parts (database,
//! gate, clock, channel, limiter, events) and the inner state behind every `Notifier` clone.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::channel::Channel;
use super::limiter::Limiter;
use crate::domain::clock::Clock;
use crate::domain::ids::ProductId;
use crate::domain::round::Lease;
use crate::events::EventHub;
use crate::gate::StockGate;
use crate::store::Store;

/// Tuning of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Most requests in flight at once, across all rounds.
    pub concurrency: usize,
    /// Line rows read per page.
    pub page_size: i64,
    /// History rows written per batch (at most; a batch is also written every `flush_every`).
    pub batch_rows: usize,
    /// Longest time successes wait in memory before being written.
    pub flush_every: Duration,
    /// Longest time a write waits, after its first outcome, for the outcomes of requests
    /// still in flight to join it (it goes at once when the batch is full or nothing more
    /// can arrive before it is written).
    pub linger: Duration,
    /// Retries of one notification before the round stops.
    pub max_retries: u32,
    /// First retry delay; doubles with each retry.
    pub backoff: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// How long a hold on a round lasts without renewal.
    pub lease_ttl: Duration,
    /// Days the delivery log keeps an attempt.
    pub delivery_retention_days: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            page_size: 1000,
            batch_rows: 1000,
            flush_every: Duration::from_secs(1),
            linger: Duration::from_millis(5),
            max_retries: 5,
            backoff: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            lease_ttl: Duration::from_secs(30),
            delivery_retention_days: 30,
        }
    }
}

/// What the engine runs on.
pub struct EngineParts {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The stock gate the engine learns of sell-outs from.
    pub gate: Arc<StockGate>,
    /// The server's clock.
    pub clock: Clock,
    /// Where notifications go.
    pub channel: Arc<dyn Channel>,
    /// The global rate limit.
    pub limiter: Arc<Limiter>,
    /// Where live progress goes.
    pub events: Arc<EventHub>,
}

/// A round: its product and number.
pub(crate) type RoundKey = (ProductId, i64);

/// Shared by the notifier's clones and every runner.
pub(crate) struct Inner {
    /// What the engine runs on.
    pub parts: EngineParts,
    /// Where every attempt is recorded.
    pub deliveries: super::deliveries::DeliveryLog,
    /// Bounds the requests in flight across all rounds.
    pub permits: Arc<Semaphore>,
    /// The engine's tuning.
    pub config: EngineConfig,
    /// This instance's name in lease columns: its Redis instance id when the gate is shared,
    /// so other instances can check its heartbeat.
    pub owner: String,
    /// Fires on shutdown; every runner's stop token is a child of it.
    pub shutdown: CancellationToken,
    /// Rounds with a runner in this process, and a flag that turns true when it ends.
    /// Guarded by its lock so a round is never run twice here.
    pub(super) running: Mutex<HashMap<RoundKey, watch::Receiver<bool>>>,
    /// Products whose restock or resume is between its commit and its `start`; recovery
    /// leaves their rounds alone so a runner never starts before the gate has the new stock.
    pub(super) opening: Mutex<HashSet<ProductId>>,
    /// Every run of this engine; drained on shutdown.
    pub(super) tracker: TaskTracker,
    /// Serialises this process's draw steps (the worker's and any other caller's), so a step
    /// that returns has seen every draw and notification the one before it started.
    pub(super) draw_turn: tokio::sync::Mutex<()>,
    /// One look for rounds to continue at a time in this instance: a round taken by one look
    /// is started before another look asks whether it runs here.
    pub(super) recovery_turn: tokio::sync::Mutex<()>,
}

impl Inner {
    /// A fresh lease for this instance.
    pub fn lease(&self) -> Lease {
        let ttl = chrono::Duration::from_std(self.config.lease_ttl)
            .unwrap_or(chrono::Duration::seconds(30));
        Lease {
            owner: self.owner.clone(),
            expires_at: self.parts.clock.now() + ttl,
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.parts.clock.now()
    }
}

/// The guarded value, also after a panic while it was held.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
