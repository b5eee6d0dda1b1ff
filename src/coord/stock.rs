//! The shared stock gate for several instances: counters in Redis, taken by one script each.
//!
//! The database stays the record; Redis only turns away requests that cannot succeed. Every
//! change bumps a per-product version and is published, so each instance's local mirror (which
//! the restock engine watches) follows the shared level at once. Units taken by an instance
//! that died before settling are found by their owner's lapsed heartbeat and given back by
//! [`RedisStock::reconcile`], which resets the counter to the database's figure only when
//! nothing is in flight and nothing changed since it read that figure.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::stock_scripts::{ADD, LOAD, RECONCILE, SETTLE, TAKE};
use crate::domain::ids::ProductId;
use crate::shop::gate::{StockGate, StockLevel};

/// How long an instance counts as alive after its last heartbeat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOutcome {
    /// The units are this instance's until settled.
    Taken,
    /// Not enough stock.
    NotEnough,
    /// Redis has no counter for the product (first use, or Redis lost its data).
    Unknown,
}

/// The Redis side of the shared gate.
pub struct RedisStock {
    conn: ConnectionManager,
    prefix: String,
    instance: String,
    take: Script,
    settle: Script,
    add: Script,
    load: Script,
    reconcile: Script,
    /// The newest version applied to the local mirror per product; the lock also orders the
    /// mirror updates, so an older message never overwrites a newer level.
    applied: Mutex<HashMap<ProductId, i64>>,
}

impl RedisStock {
    /// A shared gate under `prefix`, for the instance named `instance`.
    pub fn new(conn: ConnectionManager, prefix: &str, instance: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            instance: instance.to_owned(),
            take: Script::new(TAKE),
            settle: Script::new(SETTLE),
            add: Script::new(ADD),
            load: Script::new(LOAD),
            reconcile: Script::new(RECONCILE),
            applied: Mutex::new(HashMap::new()),
        }
    }

    fn keys(&self, p: ProductId) -> [String; 3] {
        [
            format!("{}:stock:{p}", self.prefix),
            format!("{}:inflight:{p}", self.prefix),
            format!("{}:ver:{p}", self.prefix),
        ]
    }

    /// The pub/sub channel of stock changes.
    pub fn channel(&self) -> String {
        format!("{}:stock-changes", self.prefix)
    }

    fn heartbeat_key(&self) -> String {
        self.heartbeat_key_of(&self.instance)
    }

    fn heartbeat_key_of(&self, instance: &str) -> String {
        format!("{}:instance:{instance}", self.prefix)
    }

    /// Whether the instance named `instance` renewed its heartbeat within [`HEARTBEAT_TTL`].
    pub async fn is_alive(&self, instance: &str) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        conn.exists(self.heartbeat_key_of(instance)).await
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        p: ProductId,
        q: i64,
        give_back: bool,
    ) -> redis::RedisResult<T> {
        let mut conn = self.conn.clone();
        let mut inv = script.prepare_invoke();
        for k in self.keys(p) {
            inv.key(k);
        }
        inv.arg(q)
            .arg(&self.instance)
            .arg(self.channel())
            .arg(p.get())
            .arg(if give_back { "1" } else { "0" });
        inv.invoke_async(&mut conn).await
    }

    /// Takes `q` units of `p` for this instance, and mirrors the new level into `gate`.
    pub async fn take(
        &self,
        gate: &StockGate,
        p: ProductId,
        q: i64,
    ) -> redis::RedisResult<TakeOutcome> {
        let r: Vec<i64> = self.run(&self.take, p, q, false).await?;
        let (code, s, pending, ver) = (at(&r, 0), at(&r, 1), at(&r, 2), at(&r, 3));
        Ok(match code {
            1 => {
                self.apply(
                    gate,
                    p,
                    StockLevel {
                        available: s,
                        pending,
                    },
                    ver,
                );
                TakeOutcome::Taken
            }
            -1 => {
                self.apply(
                    gate,
                    p,
                    StockLevel {
                        available: s,
                        pending,
                    },
                    ver,
                );
                TakeOutcome::NotEnough
            }
            _ => TakeOutcome::Unknown,
        })
    }

    /// Settles `q` in-flight units: committed (they stay taken) or given back.
    pub async fn settle(
        &self,
        gate: &StockGate,
        p: ProductId,
        q: i64,
        give_back: bool,
    ) -> redis::RedisResult<()> {
        let r: Vec<i64> = self.run(&self.settle, p, q, give_back).await?;
        if at(&r, 0) == -2 {
            return Ok(());
        }
        self.apply(
            gate,
            p,
            StockLevel {
                available: at(&r, 0),
                pending: at(&r, 1),
            },
            at(&r, 2),
        );
        Ok(())
    }

    /// Adds committed units back (cancel, expiry, restock).
    pub async fn add(&self, gate: &StockGate, p: ProductId, q: i64) -> redis::RedisResult<bool> {
        let r: Vec<i64> = self.run(&self.add, p, q, false).await?;
        if at(&r, 0) == -2 {
            return Ok(false);
        }
        self.apply(
            gate,
            p,
            StockLevel {
                available: at(&r, 0),
                pending: at(&r, 1),
            },
            at(&r, 2),
        );
        Ok(true)
    }

    /// Creates the counter from the database's figure unless another instance already did.
    pub async fn load(&self, p: ProductId, stock: i64) -> redis::RedisResult<()> {
        let _: i64 = self.run(&self.load, p, stock, false).await?;
        Ok(())
    }

    /// The version of a product's counter, read before the database figure a reconcile uses.
    pub async fn version(&self, p: ProductId) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        let [_, _, ver] = self.keys(p);
        let v: Option<i64> = conn.get(ver).await?;
        Ok(v.unwrap_or(0))
    }

    /// Resets the counter to `db_stock` when nothing moved since `version` and nothing is in
    /// flight on a live instance. Answers whether it reset.
    pub async fn reconcile(
        &self,
        p: ProductId,
        version: i64,
        db_stock: i64,
    ) -> redis::RedisResult<bool> {
        let mut conn = self.conn.clone();
        let mut inv = self.reconcile.prepare_invoke();
        for k in self.keys(p) {
            inv.key(k);
        }
        inv.arg(db_stock)
            .arg(version)
            .arg(self.channel())
            .arg(p.get())
            .arg(format!("{}:instance:", self.prefix));
        let r: i64 = inv.invoke_async(&mut conn).await?;
        Ok(r > 0)
    }

    /// Marks this instance alive for [`HEARTBEAT_TTL`].
    pub async fn heartbeat(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let ttl = HEARTBEAT_TTL.as_secs();
        let _: () = conn.set_ex(self.heartbeat_key(), 1, ttl).await?;
        Ok(())
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
        let mut applied = match self.applied.lock() {
            Ok(a) => a,
            Err(poisoned) => poisoned.into_inner(),
        };
        let last = applied.entry(p).or_insert(i64::MIN);
        if ver > *last {
            *last = ver;
            gate.set_level(p, level);
        }
    }
}

fn at(r: &[i64], i: usize) -> i64 {
    r.get(i).copied().unwrap_or(0)
}

impl RedisStock {
    /// Answers when Redis does.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Re-reads a product's shared level into the mirror (an add of nothing).
    pub async fn refresh(&self, gate: &StockGate, p: ProductId) -> redis::RedisResult<()> {
        self.add(gate, p, 0).await.map(|_| ())
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }
}
