//! The gate's side of the stock-change channel: reading what is heard into the mirror, this
//! instance's beat, and, while the channel is silent or unreadable, reading the counters instead.

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::sync::GateSync;
use crate::coord::stock::feed::{BEAT_EVERY, FeedState, POLL_EVERY};
use crate::coord::stock::{RedisStock, StockMessage};
use crate::telemetry::metrics;
use crate::ticks::Ticks;

impl GateSync {
    /// Applies one message of the change channel: a level goes to the mirror, a beat only
    /// shows the channel works, anything else is counted and said (and the counters are read
    /// instead of the channel for a while, see [`FeedState::Unreadable`]).
    pub(super) fn hear(&self, payload: &str) {
        let feed = self.redis.feed();
        if feed.is_deaf() {
            return;
        }
        match RedisStock::parse_message(payload) {
            Ok(StockMessage::Level(seen)) => {
                feed.heard();
                self.gate.mirror(seen);
            }
            Ok(StockMessage::Beat) => feed.heard(),
            Err(e) => {
                let n = feed.unreadable();
                metrics::stock_feed_unreadable();
                // The first, then every power of two: a stream of them does not flood the log.
                if n.is_power_of_two() {
                    tracing::error!(error = %e, count = n,
                        "a stock-change message could not be read; the gate reads the shared counters instead");
                }
            }
        }
    }

    /// Every [`POLL_EVERY`] until shutdown: publishes this instance's beat (every
    /// [`BEAT_EVERY`]), works out the feed's state, says when it changes (log, metric,
    /// `/readyz`), and while the feed cannot be leant on reads every known counter into the
    /// mirror, so rounds and orders here still see other instances' changes within moments.
    pub async fn watch_feed(self, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(POLL_EVERY, &shutdown);
        let mut last_beat: Option<Instant> = None;
        while ticks.next().await {
            if last_beat.is_none_or(|t| t.elapsed() >= BEAT_EVERY) {
                last_beat = Some(Instant::now());
                if let Err(e) = self.redis.publish_beat().await {
                    tracing::debug!(error = %e, "Failed to publish this instance's stock-feed beat");
                }
            }
            let (before, now) = self.redis.feed().assess(self.redis.following());
            if before != now {
                metrics::stock_feed_live(now == FeedState::Live);
                match now {
                    FeedState::Live => {
                        tracing::info!(was = before.as_str(), "the stock-change feed is live again")
                    }
                    FeedState::Silent => tracing::error!(
                        "the stock-change feed is silent (not even beats arrive): the gate reads the shared counters every 100 ms"
                    ),
                    FeedState::Unreadable => tracing::warn!(
                        "the stock-change feed carries unreadable messages: the gate reads the shared counters every 100 ms"
                    ),
                    FeedState::Down => {}
                }
            }
            if now.needs_polling() {
                self.poll_levels().await;
            }
        }
    }

    /// Reads the shared level of every product this gate knows into its mirror.
    async fn poll_levels(&self) {
        for (product, _) in self.gate.snapshot() {
            match self.redis.read_level(product).await {
                Ok(seen) => self.gate.mirror_all(seen),
                Err(e) => {
                    tracing::debug!(error = %e, %product, "Failed to read a shared counter");
                    return;
                }
            }
        }
    }
}
