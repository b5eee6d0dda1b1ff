//! Reading a product's restock rounds: the list, one round, and who a round notified.

use super::Shop;
use crate::domain::ids::ProductId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::round::{Recipient, Round, RoundRef};
use crate::store::StoreResult;

/// A page of `product`'s rounds, newest first.
pub async fn list(shop: &Shop, product: ProductId, page: &PageRequest) -> StoreResult<Page<Round>> {
    super::paged(page, shop.store.list_rounds(product, page), |r| r.round).await
}

/// One round of `product`, if it exists.
pub async fn get(shop: &Shop, at: RoundRef) -> StoreResult<Option<Round>> {
    shop.store.get_round(at.product, at.round).await
}

/// A page of the users a round notified, in line order.
pub async fn recipients(
    shop: &Shop,
    at: RoundRef,
    page: &PageRequest,
) -> StoreResult<Page<Recipient>> {
    let rows = shop.store.recipients(at.product, at.round, page);
    super::paged(page, rows, |r| r.position).await
}
