//! The shared stock gate for several instances: counters in Redis, taken by one script each.
//!
//! The database stays the record; Redis only turns away requests that cannot succeed. Keys live
//! under the database's deployment id, so a Redis that still holds another database's keys is
//! never read, and each counter remembers which of the database's stock versions it reflects,
//! so a counter from before a restore is found and rebuilt (see `scripts.rs`). Units are
//! taken per request id: a call whose answer was lost is settled or undone by that id, and
//! units of an instance that died are dropped by [`RedisStock::reconcile`].

use redis::{AsyncCommands, Script};
use std::sync::Mutex;

use super::conn::RedisConn;
use crate::domain::ids::ProductId;
use crate::domain::order::StockVersion;
use crate::store::StockRecord;
use scripts::SCHEDULE_PROBE;

pub mod feed;
mod liveness;
mod scripts;
mod settle;

pub use feed::{FeedHealth, FeedState, StockMessage};
pub use liveness::{HEARTBEAT_TTL, Liveness};

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

/// A product's level in the shared counters at one change version: what every answer of a
/// stock script carries, for the local gate to mirror (newer versions win).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedLevel {
    /// The product.
    pub product: ProductId,
    /// Units free to take now.
    pub available: i64,
    /// Units taken by requests not settled yet.
    pub pending: i64,
    /// The counter's change version.
    pub version: i64,
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
    /// This instance's heartbeat and the reads of everyone's.
    heartbeats: liveness::Heartbeats,
    schedule_probe: Script,
    /// Settles that failed, retried by the maintenance loop until Redis takes them.
    unsettled: Mutex<Vec<settle::Unsettled>>,
    /// Whether this instance is subscribed to the change channel (its mirror follows).
    following: std::sync::atomic::AtomicBool,
    /// What the subscription hears, and whether the mirror can lean on it.
    feed: FeedHealth,
}

impl RedisStock {
    /// A shared gate under `prefix` for the database `deployment`, for instance `instance`.
    pub fn new(conn: impl Into<RedisConn>, prefix: &str, deployment: &str, instance: &str) -> Self {
        Self {
            conn: conn.into(),
            namespace: format!("{prefix}:{deployment}"),
            schedule_key: super::schedule_key(prefix),
            instance: instance.to_owned(),
            take: Script::new(&scripts::take()),
            settle: Script::new(&scripts::settle()),
            add: Script::new(&scripts::add()),
            load: Script::new(&scripts::load()),
            reconcile: Script::new(&scripts::reconcile()),
            heartbeats: liveness::Heartbeats::new(),
            schedule_probe: Script::new(SCHEDULE_PROBE),
            unsettled: Mutex::new(Vec::new()),
            following: std::sync::atomic::AtomicBool::new(false),
            feed: FeedHealth::default(),
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

    /// Takes `q` units of `p` for `request`; answers the outcome and the level after it (none
    /// when Redis has no counter). Taking again with the same request takes nothing more.
    pub async fn take(
        &self,
        p: ProductId,
        q: i64,
        request: &str,
    ) -> redis::RedisResult<(TakeOutcome, Option<SharedLevel>)> {
        let args = [
            q.to_string(),
            self.field(request),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.take, p, &args).await?;
        let code = at(&r, 0);
        let seen = (code != -2).then(|| level(p, &r[1.min(r.len())..]));
        let outcome = match code {
            1 => TakeOutcome::Taken,
            -1 => TakeOutcome::NotEnough,
            _ => TakeOutcome::Unknown,
        };
        Ok((outcome, seen))
    }

    /// Adds `q` units that a database change at stock `version` gave back; answers the level
    /// after it, or None when there is no counter (the next load builds it from the database,
    /// which has them).
    pub async fn add(
        &self,
        p: ProductId,
        q: i64,
        version: StockVersion,
    ) -> redis::RedisResult<Option<SharedLevel>> {
        let args = [
            q.to_string(),
            version.to_string(),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.add, p, &args).await?;
        Ok((at(&r, 0) != -2).then(|| level(p, &r)))
    }

    /// Creates the counter from the database's record unless it exists. Answers the shared
    /// level and the stock version the counter has seen, to compare with the record.
    pub async fn load(&self, record: StockRecord) -> redis::RedisResult<(SharedLevel, i64)> {
        let p = record.product;
        let args = [
            record.stock.to_string(),
            record.version.to_string(),
            self.channel(),
            p.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.load, p, &args).await?;
        Ok((level(p, &r[1.min(r.len())..]), at(&r, 4)))
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

    /// Reads a published message of the change channel (see [`feed::parse`]).
    pub fn parse_message(payload: &str) -> Result<StockMessage, feed::Unreadable> {
        feed::parse(payload)
    }

    /// Publishes this instance's beat on the change channel, so followers that hear nothing
    /// know their subscription is broken.
    pub async fn publish_beat(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(format!("beat {}", self.instance))
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    /// How this instance hears the change channel.
    pub fn feed(&self) -> &FeedHealth {
        &self.feed
    }

    /// Reads a product's shared level (an add of nothing, which no counter skips past:
    /// version 0 is below every base, so nothing changes).
    pub async fn read_level(&self, p: ProductId) -> redis::RedisResult<Option<SharedLevel>> {
        self.add(p, 0, 0).await
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

/// The level in a script's answer `[available, pending, version, ..]`.
fn level(product: ProductId, r: &[i64]) -> SharedLevel {
    SharedLevel {
        product,
        available: at(r, 0),
        pending: at(r, 1),
        version: at(r, 2),
    }
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
