//! The shared stock gate for several instances: counters in Redis, taken by one script each.
//!
//! The database stays the record; Redis only turns away requests that cannot succeed. Keys live
//! under the database's deployment id, so a Redis that still holds another database's keys is
//! never read, and each counter remembers which of the database's stock versions it reflects,
//! so a counter from before a restore is found and rebuilt (see `stock_scripts`). Units are
//! taken per request id: a call whose answer was lost is settled or undone by that id, and
//! units of an instance that died are dropped by [`RedisStock::reconcile`].

use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::Mutex;

use super::conn::RedisConn;
use super::stock_scripts::{self, HEARTBEAT, LIVE, SCHEDULE_PROBE};
use crate::domain::ids::ProductId;
use crate::domain::order::StockVersion;
use crate::shop::gate::{StockGate, StockLevel};
use crate::store::StockRecord;

mod liveness;

pub use liveness::HEARTBEAT_TTL;

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutcome {
    /// The units are this request's until settled.
    Taken,
    /// Not enough stock.
    NotEnough,
    /// Redis has no counter for the product (first use, or Redis lost its data).
    Unknown,
}

/// What a reconciliation of one counter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconciled {
    /// The counter already agreed with the database.
    Agreed,
    /// The counter was reset to the database's figure.
    Reset,
    /// The counter described stock versions the database never had, and was rebuilt.
    Rebuilt,
    /// Something changed meanwhile, or units are in flight on a live instance: try later.
    Busy,
}

/// A settle that could not reach Redis, kept to be tried again (it is idempotent).
#[derive(Debug, Clone)]
struct Unsettled {
    product: ProductId,
    request: String,
    give_back: bool,
    version: StockVersion,
}

/// The Redis side of the shared gate.
pub struct RedisStock {
    conn: RedisConn,
    /// `<prefix>:<deployment>`: every key and the change channel live under it.
    namespace: String,
    /// The notification schedule's key, which the readiness probe reads.
    schedule_key: String,
    instance: String,
    take: Script,
    settle: Script,
    add: Script,
    load: Script,
    reconcile: Script,
    heartbeat: Script,
    live: Script,
    schedule_probe: Script,
    /// The newest version applied to the local mirror per product; the lock also orders the
    /// mirror updates, so an older message never overwrites a newer level.
    applied: Mutex<HashMap<ProductId, i64>>,
    /// Settles that failed, retried by the maintenance loop until Redis takes them.
    unsettled: Mutex<Vec<Unsettled>>,
    /// Whether this instance is subscribed to the change channel (its mirror follows).
    following: std::sync::atomic::AtomicBool,
}

impl RedisStock {
    /// A shared gate under `prefix` for the database `deployment`, for instance `instance`.
    pub fn new(conn: impl Into<RedisConn>, prefix: &str, deployment: &str, instance: &str) -> Self {
        Self {
            conn: conn.into(),
            namespace: format!("{prefix}:{deployment}"),
            schedule_key: super::schedule_key(prefix),
            instance: instance.to_owned(),
            take: Script::new(&stock_scripts::take()),
            settle: Script::new(&stock_scripts::settle()),
            add: Script::new(&stock_scripts::add()),
            load: Script::new(&stock_scripts::load()),
            reconcile: Script::new(&stock_scripts::reconcile()),
            heartbeat: Script::new(HEARTBEAT),
            live: Script::new(LIVE),
            schedule_probe: Script::new(SCHEDULE_PROBE),
            applied: Mutex::new(HashMap::new()),
            unsettled: Mutex::new(Vec::new()),
            following: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The product's keys; one hash tag, so one cluster slot.
    fn keys(&self, p: ProductId) -> [String; 4] {
        self.keys_of(&p.to_string())
    }

    /// The keys of the product named `id` (a product id, or `probe` for the readiness probe).
    fn keys_of(&self, id: &str) -> [String; 4] {
        let tag = format!("{{{}:p:{id}}}", self.namespace);
        [
            format!("{tag}:stock"),
            format!("{tag}:inflight"),
            format!("{tag}:ver"),
            format!("{tag}:dbv"),
        ]
    }

    /// The pub/sub channel of stock changes.
    pub fn channel(&self) -> String {
        format!("{}:stock-changes", self.namespace)
    }

    /// The field a request's units are held under.
    fn field(&self, request: &str) -> String {
        format!("{}|{request}", self.instance)
    }

    async fn invoke<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        p: ProductId,
        args: &[String],
    ) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        let mut inv = script.prepare_invoke();
        for k in self.keys(p) {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        inv.invoke_async(&mut conn).await
    }

    /// Takes `q` units of `p` for `request`, and mirrors the new level into `gate`. Taking
    /// again with the same request takes nothing more.
    pub async fn take(
        &self,
        gate: &StockGate,
        p: ProductId,
        q: i64,
        request: &str,
    ) -> redis::RedisResult<TakeOutcome> {
        let args = [
            q.to_string(),
            self.field(request),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.take, p, &args).await?;
        let code = at(&r, 0);
        if code != -2 {
            self.apply(gate, p, level(at(&r, 1), at(&r, 2)), at(&r, 3));
        }
        Ok(match code {
            1 => TakeOutcome::Taken,
            -1 => TakeOutcome::NotEnough,
            _ => TakeOutcome::Unknown,
        })
    }

    /// Settles `request`'s units: committed by the database at `version` (they stay taken)
    /// or given back. Idempotent: an unknown or already settled request changes nothing.
    pub async fn settle(
        &self,
        gate: &StockGate,
        p: ProductId,
        request: &str,
        give_back: bool,
        version: StockVersion,
    ) -> redis::RedisResult<()> {
        let args = [
            self.field(request),
            if give_back { "1" } else { "0" }.to_owned(),
            self.channel(),
            p.to_string(),
            version.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.settle, p, &args).await?;
        if at(&r, 0) >= 0 {
            self.apply(gate, p, level(at(&r, 0), at(&r, 1)), at(&r, 2));
        }
        Ok(())
    }

    /// As [`RedisStock::settle`]; when Redis does not answer, the settle is kept and retried
    /// by [`RedisStock::retry_unsettled`] until it lands.
    pub async fn settle_or_keep(
        &self,
        gate: &StockGate,
        p: ProductId,
        request: &str,
        give_back: bool,
        version: StockVersion,
    ) {
        if let Err(e) = self.settle(gate, p, request, give_back, version).await {
            tracing::warn!(error = %e, product = %p, "Failed to settle taken units; retrying later");
            lock(&self.unsettled).push(Unsettled {
                product: p,
                request: request.to_owned(),
                give_back,
                version,
            });
        }
    }

    /// Tries every kept settle once more; answers how many are still waiting.
    pub async fn retry_unsettled(&self, gate: &StockGate) -> usize {
        let pending = std::mem::take(&mut *lock(&self.unsettled));
        let mut left = Vec::new();
        for u in pending {
            if self
                .settle(gate, u.product, &u.request, u.give_back, u.version)
                .await
                .is_err()
            {
                left.push(u);
            }
        }
        let n = left.len();
        lock(&self.unsettled).extend(left);
        n
    }

    /// Adds `q` units that a database change at stock `version` gave back. Answers false when
    /// there is no counter (the next load builds it from the database, which has them).
    pub async fn add(
        &self,
        gate: &StockGate,
        p: ProductId,
        q: i64,
        version: StockVersion,
    ) -> redis::RedisResult<bool> {
        let args = [
            q.to_string(),
            version.to_string(),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.add, p, &args).await?;
        if at(&r, 0) == -2 {
            return Ok(false);
        }
        self.apply(gate, p, level(at(&r, 0), at(&r, 1)), at(&r, 2));
        Ok(true)
    }

    /// Creates the counter from the database's record unless it exists, and mirrors the
    /// shared level. Answers the stock version the counter has seen, to compare with the record.
    pub async fn load(&self, gate: &StockGate, record: StockRecord) -> redis::RedisResult<i64> {
        let p = record.product;
        let args = [
            record.stock.to_string(),
            record.version.to_string(),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.load, p, &args).await?;
        self.apply(gate, p, level(at(&r, 1), at(&r, 2)), at(&r, 3));
        Ok(at(&r, 4))
    }

    /// The change version of a product's counter, read before the database figure a
    /// reconcile uses.
    pub async fn version(&self, p: ProductId) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        let [_, _, ver, _] = self.keys(p);
        let v: Option<i64> = conn.get(ver).await?;
        Ok(v.unwrap_or(0))
    }

    /// Reconciles a counter with the database's `record`, read after the counter's change
    /// version was `version`; `live` are the instances whose heartbeat has not lapsed.
    pub async fn reconcile(
        &self,
        record: StockRecord,
        version: i64,
        live: &[String],
    ) -> redis::RedisResult<Reconciled> {
        let p = record.product;
        let mut args = vec![
            record.stock.to_string(),
            record.version.to_string(),
            self.channel(),
            p.to_string(),
            version.to_string(),
        ];
        args.extend(live.iter().cloned());
        let r: i64 = self.invoke(&self.reconcile, p, &args).await?;
        Ok(match r {
            0 => Reconciled::Agreed,
            1 => Reconciled::Reset,
            2 => Reconciled::Rebuilt,
            _ => Reconciled::Busy,
        })
    }

    /// Applies a published change (`"<product> <available> <pending> <version>"`).
    pub fn apply_message(&self, gate: &StockGate, payload: &str) {
        let parts: Vec<i64> = payload.split(' ').filter_map(|s| s.parse().ok()).collect();
        if let [p, available, pending, ver] = parts[..]
            && let Ok(p) = ProductId::try_from(p)
        {
            self.apply(gate, p, StockLevel { available, pending }, ver);
        }
    }

    fn apply(&self, gate: &StockGate, p: ProductId, level: StockLevel, ver: i64) {
        let mut applied = lock(&self.applied);
        let last = applied.entry(p).or_insert(i64::MIN);
        if ver > *last {
            *last = ver;
            gate.set_level(p, level);
        }
    }

    /// Re-reads a product's shared level into the mirror (an add of nothing, which no
    /// counter skips past: version 0 is below every base, so nothing changes).
    pub async fn refresh(&self, gate: &StockGate, p: ProductId) -> redis::RedisResult<()> {
        self.add(gate, p, 0, 0).await.map(|_| ())
    }

    /// Whether the change subscription is up, so the mirror follows the counters.
    pub fn following(&self) -> bool {
        self.following.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Records whether the change subscription is up.
    pub fn set_following(&self, following: bool) {
        self.following
            .store(following, std::sync::atomic::Ordering::SeqCst);
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// `<prefix>:<deployment>`, under which every key lives.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

fn level(available: i64, pending: i64) -> StockLevel {
    StockLevel { available, pending }
}

fn at(r: &[i64], i: usize) -> i64 {
    r.get(i).copied().unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
