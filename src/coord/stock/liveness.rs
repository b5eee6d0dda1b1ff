//! This instance's standing in the shared Redis: its heartbeat, the set of live instances
//! (whose rounds and units nobody else takes), and the readiness probe that runs the scripts
//! orders and rounds need.
//!
//! A heartbeat missing from the set means a dead instance only while the set can be believed.
//! A Redis that lost its data (restarted empty, a failover to a replica that lacked it) holds
//! no heartbeat of anyone, live or dead, until each instance renews its own; so does one that
//! could not be reached for longer than a heartbeat lasts. Either is seen by the heartbeat
//! script (the set is empty, or this instance's own heartbeat is missing or lapsed) and by the
//! verdict read (the asker's own heartbeat is missing or lapsed); the set is then in doubt for
//! one full [`HEARTBEAT_TTL`], long enough for every live instance to renew its heartbeat, and
//! [`RedisStock::liveness`] answers [`Liveness::Unknown`] meanwhile.

use redis::AsyncCommands;
use redis::Script;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use super::scripts::{HEARTBEAT, LIVE, VERDICT};
use super::{RedisStock, at};

/// How long an instance counts as alive after its last heartbeat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);

/// The heartbeat scripts, and whether this run of the instance has renewed its heartbeat yet.
pub(super) struct Heartbeats {
    beat: Script,
    live: Script,
    verdict: Script,
    /// Set by the first heartbeat: after it, finding this instance's heartbeat missing shows
    /// that Redis lost heartbeats.
    beaten: AtomicBool,
    /// Until when this instance alone doubts the set (its first heartbeat found it empty).
    doubt_until: Mutex<Option<Instant>>,
}

impl Heartbeats {
    /// The scripts, before this instance's first heartbeat.
    pub(super) fn new() -> Self {
        Self {
            beat: Script::new(HEARTBEAT),
            live: Script::new(LIVE),
            verdict: Script::new(VERDICT),
            beaten: AtomicBool::new(false),
            doubt_until: Mutex::new(None),
        }
    }
}

/// What the heartbeats can say about which instances are alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The instances whose heartbeat has not lapsed; any other is dead.
    Known(Vec<String>),
    /// Redis lost heartbeats lately (or this instance's own lapsed): a missing heartbeat does
    /// not show that its instance is dead, so nobody is taken for dead.
    Unknown,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RedisStock {
    /// The sorted set of instances by heartbeat expiry.
    fn instances_key(&self) -> String {
        format!("{{{}}}:instances", self.namespace)
    }

    /// The marker that, while it stands, keeps anyone from being taken for dead.
    fn doubt_key(&self) -> String {
        format!("{{{}}}:instances-doubt", self.namespace)
    }

    /// Marks this instance alive for [`HEARTBEAT_TTL`] (on Redis' clock). When it finds that
    /// Redis lost heartbeats, the set is in doubt for the next [`HEARTBEAT_TTL`].
    pub async fn heartbeat(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let first = !self.heartbeats.beaten.load(Ordering::SeqCst);
        let answer: Vec<i64> = self
            .heartbeats
            .beat
            .key(self.instances_key())
            .key(self.doubt_key())
            .arg(&self.instance)
            .arg(HEARTBEAT_TTL.as_millis() as i64)
            .arg(if first { "1" } else { "0" })
            .invoke_async(&mut conn)
            .await?;
        self.heartbeats.beaten.store(true, Ordering::SeqCst);
        match at(&answer, 1) {
            1 => tracing::warn!(
                instance = %self.instance,
                "Redis had lost the instances' heartbeats (restarted empty, or unreachable for longer than a heartbeat lasts): \
                 no instance is taken for dead for the next {} s",
                HEARTBEAT_TTL.as_secs()
            ),
            2 => {
                let until = Instant::now() + HEARTBEAT_TTL;
                *lock(&self.heartbeats.doubt_until) = Some(until);
                tracing::info!(
                    instance = %self.instance,
                    "Redis holds no heartbeats (a first start, or it lost its data): this instance takes nobody for dead for the next {} s",
                    HEARTBEAT_TTL.as_secs()
                );
            }
            _ => {}
        }
        Ok(())
    }

    /// The instances whose heartbeat has not lapsed, as Redis holds them now.
    pub async fn live_instances(&self) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        self.heartbeats
            .live
            .key(self.instances_key())
            .invoke_async(&mut conn)
            .await
    }

    /// Whether `instance`'s heartbeat has not lapsed.
    pub async fn is_alive(&self, instance: &str) -> redis::RedisResult<bool> {
        Ok(self.live_instances().await?.iter().any(|i| i == instance))
    }

    /// Which instances are alive, as far as the heartbeats can tell this instance: Unknown
    /// while the set is in doubt or this instance's own heartbeat is missing or lapsed.
    pub async fn liveness(&self) -> redis::RedisResult<Liveness> {
        if lock(&self.heartbeats.doubt_until).is_some_and(|until| Instant::now() < until) {
            return Ok(Liveness::Unknown);
        }
        let mut conn = self.conn.clone();
        let mut answer: Vec<String> = self
            .heartbeats
            .verdict
            .key(self.instances_key())
            .key(self.doubt_key())
            .arg(&self.instance)
            .invoke_async(&mut conn)
            .await?;
        if answer.first().map(String::as_str) != Some("known") {
            return Ok(Liveness::Unknown);
        }
        answer.remove(0);
        Ok(Liveness::Known(answer))
    }

    /// Forgets `instance`'s heartbeat at once, as if it had lapsed (operators, tests).
    pub async fn forget_instance(&self, instance: &str) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = conn.zrem(self.instances_key(), instance).await?;
        Ok(())
    }

    /// Answers when Redis does.
    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }

    /// Runs the scripts orders and rounds need, changing nothing: the take script on a
    /// product that never exists (it answers "unknown" without a write), the heartbeat read,
    /// and a read of the notification schedule's keys. Fails as those scripts would: refused
    /// credentials, a cluster that is down, keys in different slots, no answer.
    pub async fn probe(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let mut inv = self.take.prepare_invoke();
        for k in self.keys_of("probe") {
            inv.key(k);
        }
        let args = [
            "1".to_owned(),
            "probe|probe".to_owned(),
            self.channel(),
            "0".to_owned(),
        ];
        for a in &args {
            inv.arg(a);
        }
        let r: Vec<i64> = inv.invoke_async(&mut conn).await?;
        if at(&r, 0) != -2 {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "the readiness probe's take found a counter it never made",
            )));
        }
        let _: Vec<String> = self
            .heartbeats
            .live
            .key(self.instances_key())
            .invoke_async(&mut conn)
            .await?;
        let _: i64 = self
            .schedule_probe
            .key(&self.schedule_key)
            .key(format!("{}:log", self.schedule_key))
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }
}
