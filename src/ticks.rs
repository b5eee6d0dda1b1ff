//! Periodic background work that ends when the service shuts down.

use std::time::Duration;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// A tick at start and then about every period (late ticks are delayed, not bunched), until
/// shutdown.
pub struct Ticks {
    tick: Interval,
    shutdown: CancellationToken,
}

impl Ticks {
    /// Ticks every `period` until `shutdown` fires.
    pub fn new(period: Duration, shutdown: &CancellationToken) -> Self {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            tick,
            shutdown: shutdown.clone(),
        }
    }

    /// Waits for the next tick; false once shutdown fired (then the loop ends).
    pub async fn next(&mut self) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            _ = self.tick.tick() => true,
        }
    }
}
