//! This instance's standing in the shared Redis: its heartbeat, the set of live instances
//! (whose rounds and units nobody else takes), and the readiness probe that runs the scripts
//! orders and rounds need.

use redis::AsyncCommands;
use std::time::Duration;

use super::{RedisStock, at};

/// How long an instance counts as alive after its last heartbeat.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);

impl RedisStock {
    /// The sorted set of instances by heartbeat expiry.
    fn instances_key(&self) -> String {
        format!("{{{}}}:instances", self.namespace)
    }

    /// Marks this instance alive for [`HEARTBEAT_TTL`] (on Redis' clock).
    pub async fn heartbeat(&self) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let _: i64 = self
            .heartbeat
            .key(self.instances_key())
            .arg(&self.instance)
            .arg(HEARTBEAT_TTL.as_millis() as i64)
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    /// The instances whose heartbeat has not lapsed.
    pub async fn live_instances(&self) -> redis::RedisResult<Vec<String>> {
        let mut conn = self.conn.clone();
        self.live
            .key(self.instances_key())
            .invoke_async(&mut conn)
            .await
    }

    /// Whether `instance`'s heartbeat has not lapsed.
    pub async fn is_alive(&self, instance: &str) -> redis::RedisResult<bool> {
        Ok(self.live_instances().await?.iter().any(|i| i == instance))
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
