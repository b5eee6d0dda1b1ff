//! A strict start schedule kept in Redis, shared by every instance: GCRA without burst.
//!
//! Each grant takes the next slot of a global timeline, one slot every `1/rate` seconds, read
//! against Redis's own clock (`TIME`), so instances with drifting clocks still share one pace.

use redis::Script;

use super::conn::RedisConn;
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

/// Lua: record a start now unless the last second (plus a margin) already holds ARGV[2]
/// starts; then answer how many microseconds to wait before asking again (0: recorded).
const CONFIRM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], 10000)
return 0
";

/// Length of the guarded window: a second plus a margin for the jitter between a start on any
/// instance and its arrival at the provider. Measured here, 5 ms let 202 of 200 through a
/// second at the receiver with three instances in one process; 20 ms kept it at 200. The
/// price is 2 % of the rate when the line is long enough to run at the cap.
pub const WINDOW_US: i64 = 1_020_000;

/// One granted start: when (Redis time) and how long to wait from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// The slot's time on Redis's clock, microseconds since the epoch.
    pub at_us: i64,
    /// How long after the answer the start is due.
    pub wait: Duration,
}

/// The shared schedule of one rate-limited resource.
pub struct RedisSchedule {
    conn: RedisConn,
    key: String,
    rate: u32,
    interval_us: i64,
    script: Script,
    confirm: Script,
    /// Makes each recorded start unique in the log.
    counter: std::sync::atomic::AtomicU64,
    instance: String,
}

impl std::fmt::Debug for RedisSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSchedule")
            .field("key", &self.key)
            .field("rate", &self.rate)
            .finish()
    }
}

impl RedisSchedule {
    /// A schedule of `rate` starts per second under `key`.
    pub fn new(
        conn: impl Into<RedisConn>,
        key: impl Into<String>,
        rate: u32,
        instance: &str,
    ) -> Self {
        Self {
            confirm: Script::new(CONFIRM),
            counter: std::sync::atomic::AtomicU64::new(0),
            instance: instance.to_owned(),
            conn: conn.into(),
            key: key.into(),
            rate,
            interval_us: interval_us(rate),
            script: Script::new(TAKE_SLOT),
        }
    }

    /// Starts per second this schedule allows.
    pub fn rate(&self) -> u32 {
        self.rate
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

impl RedisSchedule {
    /// Records a start in the shared log of the last second, waiting while that log is full.
    /// The schedule alone spaces slots; this catches late wake-ups that would bunch them.
    pub async fn confirm(&self) -> Result<(), redis::RedisError> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let member = format!("{}:{n}", self.instance);
        loop {
            let mut conn = self.conn.clone();
            let wait: i64 = self
                .confirm
                .key(format!("{}:log", self.key))
                .arg(WINDOW_US)
                .arg(self.rate)
                .arg(&member)
                .invoke_async(&mut conn)
                .await?;
            if wait <= 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_micros(u64::try_from(wait).unwrap_or(1))).await;
        }
    }
}

/// Microseconds between two starts at `rate` per second, stretched by 0.5 % so that the
/// instances' wake-up jitter (a few ms) cannot squeeze `rate + 1` starts into a sliding second
/// at the provider; rounded up, so never faster.
pub fn interval_us(rate: u32) -> i64 {
    let rate = i64::from(rate.max(1));
    (1_005_000 + rate - 1) / rate
}
