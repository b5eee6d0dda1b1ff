//! Products: creating one (with its draw or waiting-room seed, and its stock into the gate),
//! changing its settings, and reading them.

use super::Shop;
use super::draws::{SeedError, new_seed};
use crate::domain::draws::SaleMode;
use crate::domain::ids::ProductId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::product::{NewProduct, Product, ProductChanges};
use crate::store::{StockRecord, StoreError, StoreResult};

/// Why a product could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No seed could be drawn for a draw product.
    #[error(transparent)]
    Seed(#[from] SeedError),
}

/// Creates `product`, with a fresh secret seed when it is sold by draw, and loads its stock
/// into the gate (on failure the gate loads it from the database at the first order).
pub async fn create(shop: &Shop, mut product: NewProduct) -> Result<Product, ProductError> {
    product.draw_seed = seed_if_draw(product.sale.sale_mode)?;
    if product.queue.enabled {
        product.queue_seed = Some(new_seed()?);
    }
    let created = shop
        .store
        .create_product(&product, shop.clock.now())
        .await?;
    let record = StockRecord {
        product: created.id,
        stock: created.stock,
        version: 0,
    };
    if let Err(e) = shop.gate.ensure_loaded(record).await {
        tracing::warn!(error = %e, product = %created.id, "Failed to load the new product into the gate");
    }
    Ok(created)
}

/// Writes `changes` over `current`; a product that becomes sold by draw gets a fresh seed.
pub async fn update(
    shop: &Shop,
    current: &Product,
    mut changes: ProductChanges,
) -> Result<Product, ProductError> {
    if changes.sale.sale_mode != current.sale_mode {
        changes.draw_seed = seed_if_draw(changes.sale.sale_mode)?;
    }
    // The store keeps a seed the room had before (the fresh one is used only where none is).
    if changes.queue.enabled && current.queue_seed_hash.is_none() {
        changes.queue_seed = Some(new_seed()?);
    }
    Ok(shop
        .store
        .update_product(current.id, &changes, shop.clock.now())
        .await?)
}

/// One product, if it exists.
pub async fn get(shop: &Shop, id: ProductId) -> StoreResult<Option<Product>> {
    shop.store.get_product(id).await
}

/// A page of products by id.
pub async fn list(shop: &Shop, page: &PageRequest) -> StoreResult<Page<Product>> {
    super::paged(page, shop.store.list_products(page), |p| p.id.get()).await
}

/// A fresh seed when a product is (or becomes) sold by draw.
fn seed_if_draw(mode: SaleMode) -> Result<Option<String>, SeedError> {
    match mode {
        SaleMode::Draw => new_seed().map(Some),
        SaleMode::FirstCome => Ok(None),
    }
}
