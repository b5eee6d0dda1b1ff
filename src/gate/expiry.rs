//! Claims whose time is up: their units go back to free stock and to the gate.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::StockGate;
use crate::store::{Store, StoreResult};

/// Claims expired per transaction.
pub const BATCH: i64 = 1000;

/// Expires up to `batch` claims due at `now` in one transaction, then gives their units back
/// to the gate (after the commit); answers how many expired. The holder-side sweeper
/// (`shop::claims`) and a claim round that sees one of its own claims due both run it.
pub async fn expire_claims(
    store: &Arc<dyn Store>,
    gate: &StockGate,
    now: DateTime<Utc>,
    batch: i64,
) -> StoreResult<usize> {
    let done = store.expire_claims(now, batch).await?;
    for r in &done.returned {
        gate.returned(r.product, r.units, r.stock_version).await;
    }
    if done.claims > 0 {
        crate::telemetry::metrics::claims("expired", done.claims as u64);
        gate.claims_changed();
        tracing::info!(claims = done.claims, "expired unused claims");
    }
    Ok(done.claims)
}
