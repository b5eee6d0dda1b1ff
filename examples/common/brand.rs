//! The brand a benchmark's products belong to, created on the store, and their plain sale.

use dropline::domain::brand::{Brand, BrandCategory, Name, NewBrand};
use dropline::domain::product::{LinePolicy, SaleSettings};
use dropline::store::Store;

/// Creates the camping brand the benchmark's products are released under.
pub async fn camping_brand(
    store: &dyn Store,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Brand> {
    Ok(store
        .create_brand(
            &NewBrand {
                name: Name::parse("name", "Helinox")?,
                category: BrandCategory::Camping,
            },
            now,
        )
        .await?)
}

/// The sale of a benchmark's product: on sale from creation, one unit a buyer, a 30-minute
/// hold, first come, the line restarted by every round.
#[allow(dead_code)] // Not every benchmark that includes this file sells this way.
pub fn plain_sale() -> SaleSettings {
    SaleSettings {
        price: 1000,
        sale_starts_at: None,
        sale_ends_at: None,
        per_user_limit: 1,
        hold_seconds: 1800,
        line_policy: LinePolicy::Restart,
        sale_mode: Default::default(),
    }
}
