//! Brands: creating one and listing them.

use super::Shop;
use crate::domain::brand::{Brand, NewBrand};
use crate::domain::page::{Page, PageRequest};
use crate::store::StoreResult;

/// Creates `brand`.
pub async fn create(shop: &Shop, brand: &NewBrand) -> StoreResult<Brand> {
    shop.store.create_brand(brand, shop.clock.now()).await
}

/// A page of brands by id.
pub async fn list(shop: &Shop, page: &PageRequest) -> StoreResult<Page<Brand>> {
    super::paged(page, shop.store.list_brands(page), |b| b.id.get()).await
}
