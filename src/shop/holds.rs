//! Durable payment holds: due reservations expire and their stock goes back.

use super::Shop;
use crate::store::StoreResult;

/// Orders expired per transaction.
pub const BATCH: i64 = 500;

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
    super::batches::until_short(BATCH, || expire_due(shop)).await
}
