//! The notifier: starts round runners, tracks which run here, recovers orphaned rounds.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::parts::{EngineConfig, EngineParts, Inner, lock};
use super::runner;
use super::takeover::{self, Moment};
use crate::domain::ids::ProductId;
use crate::domain::round::{Lease, Round, RoundStatus};
use crate::gate::StockGate;
use crate::store::{Store, StoreResult};

/// Runs restock rounds; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    inner: Arc<Inner>,
}

/// Resolves when one round's runner in this process has ended.
#[derive(Debug)]
pub struct RoundWatch(watch::Receiver<bool>);

impl RoundWatch {
    /// Waits for the runner to end (at once if it already has).
    pub async fn ended(mut self) {
        let _ = self.0.wait_for(|done| *done).await;
    }
}

/// Keeps recovery away from a product while its new round is being opened and started.
pub struct OpeningGuard {
    inner: Arc<Inner>,
    product: ProductId,
}

impl Drop for OpeningGuard {
    fn drop(&mut self) {
        lock(&self.inner.opening).remove(&self.product);
    }
}

impl Notifier {
    /// A notifier over `parts`; rounds are held under this instance's Redis id when the gate
    /// is shared, else under a random name for this run.
    pub fn new(parts: EngineParts, config: EngineConfig) -> Self {
        use rand::Rng;
        let owner = match parts.gate.shared_backend() {
            Some(redis) => redis.instance().to_owned(),
            None => format!("dropline-{:016x}", rand::rng().random::<u64>()),
        };
        Self {
            inner: Arc::new(Inner {
                deliveries: super::deliveries::DeliveryLog::start(parts.store.clone()),
                parts,
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                owner,
                shutdown: CancellationToken::new(),
                running: Mutex::new(HashMap::new()),
                opening: Mutex::new(HashSet::new()),
                tracker: TaskTracker::new(),
                draw_turn: tokio::sync::Mutex::new(()),
                recovery_turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The parts every run shares (the channel, the limiter, the tuning).
    pub(super) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// This instance's name in lease columns.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// A lease for this instance, valid from now.
    pub fn lease(&self) -> Lease {
        self.inner.lease()
    }

    /// The database the engine runs on.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.parts.store
    }

    /// The stock gate the engine watches.
    pub fn gate(&self) -> &Arc<StockGate> {
        &self.inner.parts.gate
    }

    /// The server's time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.now()
    }

    /// Takes this process's turn at draw steps (the worker's and any other caller's) until the
    /// guard drops, so a step that returns has seen every draw and notification the one
    /// before it started.
    pub async fn draw_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.inner.draw_turn.lock().await
    }

    /// Marks `product` as being opened until the guard drops.
    pub fn opening(&self, product: ProductId) -> OpeningGuard {
        lock(&self.inner.opening).insert(product);
        OpeningGuard {
            inner: self.inner.clone(),
            product,
        }
    }

    /// Starts the runner of a round held by this instance, unless one already runs here.
    pub fn start(&self, product: ProductId, round: i64) -> RoundWatch {
        let key = (product, round);
        let mut running = lock(&self.inner.running);
        if let Some(rx) = running.get(&key) {
            return RoundWatch(rx.clone());
        }
        let (tx, rx) = watch::channel(false);
        if self.inner.shutdown.is_cancelled() {
            tx.send_replace(true);
            return RoundWatch(rx);
        }
        running.insert(key, rx.clone());
        let inner = self.inner.clone();
        let span = tracing::info_span!("round", %product, round);
        self.inner.tracker.spawn(
            async move {
                runner::run(&inner, product, round).await;
                inner.parts.events.forget(product, round);
                lock(&inner.running).remove(&key);
                tx.send_replace(true);
            }
            .instrument(span),
        );
        RoundWatch(rx)
    }

    /// The watch of a round running here, if any.
    pub fn watch(&self, product: ProductId, round: i64) -> Option<RoundWatch> {
        lock(&self.inner.running)
            .get(&(product, round))
            .map(|rx| RoundWatch(rx.clone()))
    }

    /// Takes, as the instance starts, the running rounds whose owner is gone: without Redis
    /// every round an earlier run left running, whatever its lease; with Redis those whose
    /// owner's heartbeat lapsed. The recovery worker starts them. Answers how many it took.
    pub async fn take_over_at_start(&self) -> StoreResult<u64> {
        takeover::take_from_gone(&self.inner, Moment::Start).await
    }

    /// One recovery step: takes running rounds nobody holds, whose lease lapsed or whose owner's
    /// heartbeat lapsed, and starts those not running here. Returns how many runners it started.
    pub async fn recover_once(&self) -> StoreResult<usize> {
        // Taking a round and starting its run are one step for every other look: without the
        // turn, `settle` could look between the recovery worker's take and its start, and
        // read the round as held elsewhere.
        let _turn = self.inner.recovery_turn.lock().await;
        takeover::take_from_gone(&self.inner, Moment::Running).await?;
        let lease = self.inner.lease();
        let now = self.inner.now();
        let held = self
            .inner
            .parts
            .store
            .claim_rounds(&lease, now, 100)
            .await?;
        let mut started = 0;
        for (product, round) in held {
            if lock(&self.inner.opening).contains(&product) || self.watch(product, round).is_some()
            {
                continue;
            }
            tracing::info!(%product, round, "continuing a round from its checkpoint");
            self.start(product, round);
            started += 1;
        }
        Ok(started)
    }

    /// Drives a round to its end from here: waits for its runner, recovering it first when it
    /// is running but held by nobody. Returns the round as stored (None when unknown). Tests
    /// and tools use this instead of sleeping.
    pub async fn settle(&self, product: ProductId, round: i64) -> StoreResult<Option<Round>> {
        loop {
            if let Some(w) = self.watch(product, round) {
                w.ended().await;
            }
            let Some(r) = self.inner.parts.store.get_round(product, round).await? else {
                return Ok(None);
            };
            if r.status != RoundStatus::InProgress || self.inner.shutdown.is_cancelled() {
                return Ok(Some(r));
            }
            self.recover_once().await?;
            if self.watch(product, round).is_none() {
                // Held by another instance, or ended between the two reads.
                let r = self.inner.parts.store.get_round(product, round).await?;
                return Ok(r);
            }
        }
    }

    /// Asks every runner to stop starting requests; rounds stay IN_PROGRESS for a later start.
    pub fn cancel(&self) {
        self.inner.shutdown.cancel();
    }

    /// Resolves once `cancel` has been called.
    pub async fn cancelled(&self) {
        self.inner.shutdown.cancelled().await;
    }

    /// Waits for every runner to finish its in-flight requests and write its checkpoint.
    pub async fn drain(&self) {
        self.inner.tracker.close();
        self.inner.tracker.wait().await;
        self.inner.deliveries.flush().await;
    }

    /// Days the delivery log keeps an attempt.
    pub fn delivery_retention_days(&self) -> u32 {
        self.inner.config.delivery_retention_days
    }

    /// Waits until every attempt this instance made so far is in the delivery log.
    pub async fn flush_deliveries(&self) {
        self.inner.deliveries.flush().await;
    }

    /// How often the recovery worker looks for orphaned rounds: every third of the lease, and
    /// with Redis at least every [`takeover::HEARTBEAT_CHECK`].
    pub fn recovery_interval(&self) -> Duration {
        let every = (self.inner.config.lease_ttl / 3).max(Duration::from_millis(100));
        match self.inner.parts.gate.shared_backend() {
            Some(_) => every.min(takeover::HEARTBEAT_CHECK),
            None => every,
        }
    }
}
