//! A strict start schedule kept in Redis, shared by every instance: GCRA without burst.
//!
//! Each grant takes the next slot of a global timeline, one slot every `1/rate` seconds, read
//! against Redis's own clock (`TIME`), so instances with drifting clocks still share one pace.

use redis::Script;
use redis::aio::ConnectionManager;
use std::time::Duration;

/// Lua: take the next slot at or after now; answer the slot and now, in microseconds.
const TAKE_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
redis.call('SET', KEYS[1], tat + interval, 'PX', 60000)
return {tat, now}
";

/// One granted start: when (Redis time) and how long to wait from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The slot's time on Redis's clock, microseconds since the epoch.
    pub at_us: i64,
    /// How long after the answer the start is due.
    pub wait: Duration,
}

/// The shared schedule of one rate-limited resource.
#[derive(Clone)]
pub struct RedisSchedule {
    conn: ConnectionManager,
    key: String,
    interval_us: i64,
    script: Script,
}

impl RedisSchedule {
    /// A schedule of `rate` starts per second under `key`.
    pub fn new(conn: ConnectionManager, key: impl Into<String>, rate: u32) -> Self {
        Self {
            conn,
            key: key.into(),
            interval_us: interval_us(rate),
            script: Script::new(TAKE_SLOT),
        }
    }

    /// Takes the next slot.
    pub async fn take(&self) -> Result<Slot, redis::RedisError> {
        let mut conn = self.conn.clone();
        let (at_us, now_us): (i64, i64) = self
            .script
            .key(&self.key)
            .arg(self.interval_us)
            .invoke_async(&mut conn)
            .await?;
        let wait = u64::try_from(at_us - now_us).unwrap_or(0);
        Ok(Slot {
            at_us,
            wait: Duration::from_micros(wait),
        })
    }
}

/// Microseconds between two starts at `rate` per second (rounded up, so never faster).
pub fn interval_us(rate: u32) -> i64 {
    let rate = i64::from(rate.max(1));
    (1_000_000 + rate - 1) / rate
}
