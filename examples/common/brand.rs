//! The brand a benchmark's products belong to, created on the store.

use dropline::domain::brand::{Brand, BrandCategory, Name, NewBrand};
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
