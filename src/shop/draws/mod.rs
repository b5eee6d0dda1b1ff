//! Draw sales in the shop: the secret seed a draw product is created with, entering and
//! withdrawing, and reading entries and the draw; the draw worker is `worker`.

pub mod worker;

use super::Shop;
use crate::domain::draws::{DrawRecord, Entry, EntryOutcome, hex};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::Quantity;
use crate::domain::page::{Page, PageRequest};
use crate::store::StoreResult;
use crate::store::draws::Entering;
use crate::telemetry::metrics;

/// The OS random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random source failed: {0}")]
pub struct SeedError(String);

/// A fresh secret seed: 32 bytes from the OS, as 64 lowercase hex digits.
pub fn new_seed() -> Result<String, SeedError> {
    use rand::TryRngCore;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| SeedError(e.to_string()))?;
    Ok(hex(&bytes))
}

/// Enters `user` in `product`'s draw for `quantity` units, or replaces the entry's quantity.
pub async fn enter(
    shop: &Shop,
    product: ProductId,
    user: UserId,
    quantity: Quantity,
) -> StoreResult<(EntryOutcome, Entry)> {
    let entering = Entering {
        product,
        user,
        quantity,
        now: shop.clock.now(),
    };
    let (outcome, entry) = shop.store.enter(entering).await?;
    metrics::draw_entry(match outcome {
        EntryOutcome::Entered => "entered",
        EntryOutcome::Replaced => "replaced",
    });
    Ok((outcome, entry))
}

/// Withdraws `user` from `product`'s draw (also when not entered).
pub async fn withdraw(shop: &Shop, product: ProductId, user: UserId) -> StoreResult<()> {
    shop.store.withdraw(product, user, shop.clock.now()).await?;
    metrics::draw_entry("withdrawn");
    Ok(())
}

/// A page of `user`'s entries, newest first.
pub async fn entries_of_user(
    shop: &Shop,
    user: UserId,
    page: &PageRequest,
) -> StoreResult<Page<Entry>> {
    super::paged(page, shop.store.user_entries(user, page), |e| e.cursor).await
}

/// `product`'s draw; None for a first-come product.
pub async fn record(shop: &Shop, product: ProductId) -> StoreResult<Option<DrawRecord>> {
    shop.store.draw_record(product).await
}

/// A page of `product`'s entries: by rank after the draw (withdrawn ones last), by user id
/// before.
pub async fn entries(
    shop: &Shop,
    product: ProductId,
    page: &PageRequest,
) -> StoreResult<Page<Entry>> {
    super::paged(page, shop.store.draw_entries(product, page), |e| e.cursor).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_are_64_lowercase_hex_digits_and_differ() {
        let (a, b) = (super::new_seed().unwrap(), super::new_seed().unwrap());
        assert!(crate::domain::draws::is_seed(&a));
        assert_ne!(a, b);
    }
}
