//! The holder's side of claims: an open claim expires when its time is up or is released
//! when its holder leaves the line, and either way its unit goes back to free stock.

use super::Shop;
use crate::domain::claim::Claim;
use crate::domain::ids::UserId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::round::RoundRef;
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

/// A page of a claim round's claims, in the order made.
pub async fn of_round(shop: &Shop, at: RoundRef, page: &PageRequest) -> StoreResult<Page<Claim>> {
    let rows = shop.store.round_claims(at.product, at.round, page);
    super::paged(page, rows, |c| c.id).await
}

/// A page of `user`'s claims across products, newest first.
pub async fn of_user(shop: &Shop, user: UserId, page: &PageRequest) -> StoreResult<Page<Claim>> {
    super::paged(page, shop.store.user_claims(user, page), |c| c.id).await
}
