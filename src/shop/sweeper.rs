//! The sweeper: due payment holds and due claims expire, about every second; the delivery
//! log's attempts past their retention go about every minute.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Shop;
use crate::ticks::Ticks;

/// How often the sweeper looks for due holds and claims.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// Ticks between two sweeps of the delivery log.
const LOG_SWEEP_TICKS: u64 = 60;

/// The sweeper loop: at start and then about every [`INTERVAL`], until `shutdown` fires;
/// the delivery log keeps attempts `retention_days`.
pub async fn run(shop: Shop, retention_days: u32, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    let mut tick: u64 = 0;
    while ticks.next().await {
        if tick.is_multiple_of(LOG_SWEEP_TICKS)
            && let Err(e) = super::deliveries::sweep(&shop, retention_days).await
        {
            tracing::warn!(error = %e, "Failed to sweep the delivery log; retrying later");
        }
        tick += 1;
        if let Err(e) = super::holds::expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due holds; retrying next tick");
        }
        if let Err(e) = super::claims::expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due claims; retrying next tick");
        }
    }
}
