//! Durable payment holds: the sweeper that expires due reservations (and due claims) and
//! returns their stock.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Shop;
use crate::store::StoreResult;
use crate::ticks::Ticks;

/// Orders expired per transaction.
pub const BATCH: i64 = 500;

/// How often the sweeper looks for due holds.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// One step: expires up to [`BATCH`] due holds in one transaction, then gives their units
/// back to the gate (after the commit; no restock round opens). Answers how many expired.
pub async fn expire_due(shop: &Shop) -> StoreResult<usize> {
    let done = shop.store.expire_due(shop.clock.now(), BATCH).await?;
    for r in &done.returned {
        shop.gate
            .returned(r.product, r.units, r.stock_version)
            .await;
    }
    if done.orders > 0 {
        crate::telemetry::metrics::orders_expired(done.orders as u64);
        tracing::info!(orders = done.orders, "expired unpaid holds");
    }
    Ok(done.orders)
}

/// Runs steps until no full batch is left.
pub async fn expire_all_due(shop: &Shop) -> StoreResult<usize> {
    until_short(BATCH, || expire_due(shop)).await
}

/// Runs `step` (which answers how many it did, at most `batch`) until one does fewer than
/// `batch`; answers how many they did together.
pub(crate) async fn until_short<F, Fut>(batch: i64, mut step: F) -> StoreResult<usize>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<usize>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        if (n as i64) < batch {
            return Ok(total);
        }
    }
}

/// The sweeper loop: at start and then about every [`INTERVAL`], until `shutdown` fires.
pub async fn run(shop: Shop, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due holds; retrying next tick");
        }
        if let Err(e) = super::claims::expire_all_due(&shop).await {
            tracing::warn!(error = %e, "Failed to expire due claims; retrying next tick");
        }
    }
}
