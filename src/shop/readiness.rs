//! Whether this instance can serve: the database answers and, with Redis, the scripts run
//! there and the stock gate's mirror was refreshed since Redis last failed.

use super::Shop;

/// Why the instance is not ready (each cause is logged where it is found).
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    /// The database does not answer.
    #[error("the database is not ready")]
    Database,
    /// Redis does not answer or cannot run the scripts.
    #[error("Redis is not ready")]
    Redis,
    /// Redis answers again but the gate's mirror is not refreshed yet.
    #[error("the stock gate is not refreshed since Redis came back")]
    GateStale,
}

/// How a ready instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// With Redis, how the stock-change feed between instances is heard (`live`, `silent`,
    /// `unreadable`); None without Redis.
    pub stock_feed: Option<&'static str>,
}

/// Checks the database and, with Redis, Redis and the gate.
pub async fn check(shop: &Shop) -> Result<Ready, NotReady> {
    shop.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "database is not ready");
        NotReady::Database
    })?;
    let Some(redis) = shop.gate.shared_backend() else {
        return Ok(Ready { stock_feed: None });
    };
    redis.probe().await.map_err(|e| {
        tracing::warn!(cause = %crate::coord::target::explain(&e), "Redis is not ready");
        NotReady::Redis
    })?;
    if !shop.gate.trusted() {
        tracing::warn!("Redis answers again; the stock gate is not refreshed yet");
        return Err(NotReady::GateStale);
    }
    // Silent or unreadable, the feed is not leant on: the counters are read instead, so the
    // instance stays ready and says so.
    Ok(Ready {
        stock_feed: Some(redis.feed().evaluate(redis.following()).as_str()),
    })
}
