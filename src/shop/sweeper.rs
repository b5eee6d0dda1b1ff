//! The sweeper: due payment holds and due claims expire, about every second.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Shop;
use crate::ticks::Ticks;

/// How often the sweeper looks for due holds and claims.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The sweeper loop: at start and then about every [`INTERVAL`], until `shutdown` fires.
pub async fn run(shop: Shop, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = super::holds::expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due holds; retrying next tick");
        }
        if let Err(e) = super::claims::expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due claims; retrying next tick");
        }
    }
}
