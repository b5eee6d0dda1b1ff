//! The holder's side of claims: an open claim expires when its time is up or is released
//! when its holder leaves the line, and either way its unit goes back to free stock.

use super::Shop;
use super::detach::{StepError, detached};
use crate::domain::ids::{ProductId, UserId};
use crate::store::StoreResult;

/// Claims expired per transaction.
pub const BATCH: i64 = crate::gate::expiry::BATCH;

/// One step: expires up to [`BATCH`] due claims in one transaction, then gives their units
/// back to the gate (after the commit). Answers how many expired.
pub async fn expire_due(shop: &Shop) -> StoreResult<usize> {
    crate::gate::expiry::expire_claims(&shop.store, &shop.gate, shop.clock.now(), BATCH).await
}

/// Runs steps until no full batch is left; answers how many expired.
pub async fn expire_all_due(shop: &Shop) -> StoreResult<usize> {
    super::batches::until_short(BATCH, || expire_due(shop)).await
}

/// Takes the user out of the product's line and releases the user's open claim on it,
/// giving its unit back; detached, so a client that goes away changes nothing.
pub async fn leave_line(shop: &Shop, product: ProductId, user: UserId) -> Result<(), StepError> {
    let st = shop.clone();
    detached(&shop.tasks, async move {
        let now = st.clock.now();
        st.store.leave_line(product, user, now).await?;
        if let Some(r) = st.store.release_claims(product, user, now).await? {
            st.gate.returned(r.product, r.units, r.stock_version).await;
            crate::telemetry::metrics::claims("released", r.units as u64);
            st.gate.claims_changed();
        }
        Ok::<_, StepError>(())
    })
    .await?
}
