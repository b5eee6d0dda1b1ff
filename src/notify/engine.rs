//! The notifier: starts round runners, tracks which run here, recovers orphaned rounds.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::channel::Channel;
use super::limiter::Limiter;
use super::owners::{self, Moment};
use super::runner;
use crate::domain::clock::Clock;
use crate::domain::ids::ProductId;
use crate::domain::round::{Lease, Round, RoundStatus};
use crate::events::EventHub;
use crate::gate::StockGate;
use crate::store::{Store, StoreResult};

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

type RoundKey = (ProductId, i64);

/// Shared by the notifier's clones and every runner.
pub(crate) struct Inner {
    /// What the engine runs on.
    pub parts: EngineParts,
    /// Bounds the requests in flight across all rounds.
    pub permits: Arc<Semaphore>,
    pub config: EngineConfig,
    /// This instance's name in lease columns: its Redis instance id when the gate is shared,
    /// so other instances can check its heartbeat.
    pub owner: String,
    /// Fires on shutdown; every runner's stop token is a child of it.
    pub shutdown: CancellationToken,
    /// Rounds with a runner in this process, and a flag that turns true when it ends.
    /// Guarded by its lock so a round is never run twice here.
    running: Mutex<HashMap<RoundKey, watch::Receiver<bool>>>,
    /// Products whose restock or resume is between its commit and its `start`; recovery
    /// leaves their rounds alone so a runner never starts before the gate has the new stock.
    opening: Mutex<HashSet<ProductId>>,
    tracker: TaskTracker,
    /// Serialises this process's draw steps (the worker's and any other caller's), so a step
    /// that returns has seen every draw and notification the one before it started.
    pub draw_turn: tokio::sync::Mutex<()>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

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
                parts,
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                owner,
                shutdown: CancellationToken::new(),
                running: Mutex::new(HashMap::new()),
                opening: Mutex::new(HashSet::new()),
                tracker: TaskTracker::new(),
                draw_turn: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The parts every run shares (the channel, the limiter, the tuning).
    pub(crate) fn inner(&self) -> &Inner {
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
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.inner.parts.store
    }

    /// The stock gate the engine watches.
    pub(crate) fn gate(&self) -> &Arc<StockGate> {
        &self.inner.parts.gate
    }

    /// The server's time.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.inner.now()
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
        owners::take_from_gone(&self.inner, Moment::Start).await
    }

    /// One recovery step: takes running rounds nobody holds, whose lease lapsed or whose owner's
    /// heartbeat lapsed, and starts those not running here. Returns how many runners it started.
    pub async fn recover_once(&self) -> StoreResult<usize> {
        owners::take_from_gone(&self.inner, Moment::Running).await?;
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
    }

    /// How often the recovery worker looks for orphaned rounds: every third of the lease, and
    /// with Redis at least every [`owners::HEARTBEAT_CHECK`].
    pub fn recovery_interval(&self) -> Duration {
        let every = (self.inner.config.lease_ttl / 3).max(Duration::from_millis(100));
        match self.inner.parts.gate.shared_backend() {
            Some(_) => every.min(owners::HEARTBEAT_CHECK),
            None => every,
        }
    }
}
