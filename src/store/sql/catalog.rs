//! Brands and products.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{Database, QueryBuilder};

use super::{Db, SqlStore, inserted_id, lock_product};
use crate::domain::brand::{Brand, NewBrand};
use crate::domain::claim::AlertSettings;
use crate::domain::draws::{SaleMode, seed_hash};
use crate::domain::ids::{BrandId, ProductId};
use crate::domain::page::PageRequest;
use crate::domain::product::{NewProduct, Product, ProductChanges, SaleSettings};
use crate::domain::queue::QueueSettings;
use crate::domain::{Conflict, ValidationError};
use crate::store::retry::lock_races;
use crate::store::rows::{BrandRow, ProductRow, push_id_list};
use crate::store::{CatalogStore, StockRecord, StoreError, StoreResult};

/// The start of every product query, with the brand list folded into text (MySQL can answer
/// `GROUP_CONCAT` of integers as a binary string; the CAST changes nothing on SQLite).
const SELECT_PRODUCTS: &str = "SELECT p.id, p.name, \
    CAST((SELECT GROUP_CONCAT(pb.brand_id) FROM product_brand pb WHERE pb.product_id = p.id) AS CHAR) AS brand_ids, \
    p.price, p.stock, p.restock_round, p.sale_starts_at, p.sale_ends_at, p.per_user_limit, \
    p.hold_seconds, p.line_policy, p.sale_mode, \
    CASE WHEN p.sale_mode = 'draw' THEN p.draw_seed_hash END AS draw_seed_hash, \
    p.alert_mode, p.claim_seconds, p.queue_enabled, p.queue_opens_at, p.queue_admit_seconds, \
    p.queue_admit_rate, CASE WHEN p.queue_enabled = 1 THEN p.queue_seed_hash END AS queue_seed_hash, \
    CASE WHEN p.queue_enabled = 1 THEN p.queue_seed END AS queue_seed, \
    p.created_at, p.updated_at FROM product p";

/// Binds a product's sale settings, in the column order both product writes use.
fn bind_sale<'q>(
    q: Query<'q, Db, <Db as Database>::Arguments>,
    sale: &SaleSettings,
    alert: &AlertSettings,
    queue: &QueueSettings,
) -> Query<'q, Db, <Db as Database>::Arguments> {
    q.bind(sale.price)
        .bind(sale.sale_starts_at.map(|t| t.timestamp_millis()))
        .bind(sale.sale_ends_at.map(|t| t.timestamp_millis()))
        .bind(sale.per_user_limit)
        .bind(sale.hold_seconds)
        .bind(sale.line_policy.as_str())
        .bind(sale.sale_mode.as_str())
        .bind(alert.alert_mode.as_str())
        .bind(alert.claim_seconds)
        .bind(i64::from(queue.enabled))
        .bind(queue.opens_at.map(|t| t.timestamp_millis()))
        .bind(queue.admit_seconds)
        .bind(queue.admit_rate)
}

#[async_trait]
impl CatalogStore for SqlStore {
    async fn create_brand(&self, brand: &NewBrand, now: DateTime<Utc>) -> StoreResult<Brand> {
        let done = sqlx::query("INSERT INTO brand (name, category, created_at) VALUES (?, ?, ?)")
            .bind(brand.name.as_str())
            .bind(brand.category.as_str())
            .bind(now.timestamp_millis())
            .execute(self.pool())
            .await?;
        Ok(Brand {
            id: BrandId::from_db(inserted_id(&done)),
            name: brand.name.as_str().to_owned(),
            category: brand.category,
        })
    }

    async fn list_brands(&self, page: &PageRequest) -> StoreResult<Vec<Brand>> {
        self.rows::<BrandRow, _>(
            "SELECT id, name, category FROM brand WHERE id > ? ORDER BY id LIMIT ?",
            &[page.after.unwrap_or(0), page.fetch()],
        )
        .await
    }

    async fn create_product(
        &self,
        product: &NewProduct,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        lock_races("product creation", || async {
            let mut tx = self.write_tx().await?;
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM brand WHERE id IN ");
            push_id_list(&mut count, product.brand_ids.iter().map(|b| b.get()));
            let found: i64 = count.build_query_scalar().fetch_one(&mut *tx).await?;
            if found != product.brand_ids.len() as i64 {
                return Err(
                    ValidationError::new("brand_ids", "names a brand that does not exist").into(),
                );
            }
            let insert = sqlx::query(
                "INSERT INTO product (name, price, sale_starts_at, sale_ends_at, per_user_limit, \
                 hold_seconds, line_policy, sale_mode, alert_mode, claim_seconds, queue_enabled, \
                 queue_opens_at, queue_admit_seconds, queue_admit_rate, draw_seed, draw_seed_hash, \
                 queue_seed, queue_seed_hash, stock, restock_round, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
            )
            .bind(product.name.as_str());
            let seed = seed_for(product.sale.sale_mode, product.draw_seed.as_deref());
            let queue_seed = product.queue_seed.as_deref();
            let done = bind_sale(insert, &product.sale, &product.alert, &product.queue)
                .bind(seed)
                .bind(seed.map(seed_hash))
                .bind(queue_seed)
                .bind(queue_seed.map(seed_hash))
                .bind(product.stock)
                .bind(now.timestamp_millis())
                .bind(now.timestamp_millis())
                .execute(&mut *tx)
                .await?;
            let id = inserted_id(&done);
            let mut links = QueryBuilder::new("INSERT INTO product_brand (product_id, brand_id) ");
            links.push_values(&product.brand_ids, |mut b, brand| {
                b.push_bind(id).push_bind(brand.get());
            });
            links.build().execute(&mut *tx).await?;
            tx.commit().await?;
            self.get_product(ProductId::from_db(id))
                .await?
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>> {
        let mut q = QueryBuilder::new(SELECT_PRODUCTS);
        q.push(" WHERE p.id = ").push_bind(id.get());
        let row: Option<ProductRow> = q.build_query_as().fetch_optional(self.pool()).await?;
        Ok(row.map(Product::from))
    }

    async fn list_products(&self, page: &PageRequest) -> StoreResult<Vec<Product>> {
        let mut q = QueryBuilder::new(SELECT_PRODUCTS);
        q.push(" WHERE p.id > ")
            .push_bind(page.after.unwrap_or(0))
            .push(" ORDER BY p.id LIMIT ")
            .push_bind(page.fetch());
        let rows: Vec<ProductRow> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(Product::from).collect())
    }

    async fn update_product(
        &self,
        id: ProductId,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Product> {
        lock_races("product update", || async {
            let mut tx = self.write_tx().await?;
            let Some((current, queued)) =
                lock_product::<(String, i64)>(&mut tx, id, "sale_mode, queue_enabled").await?
            else {
                return Err(StoreError::NotFound);
            };
            if (queued != 0) != changes.queue.enabled {
                // The row is locked (or the database is): no join can start meanwhile.
                let members: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM queue_member WHERE product_id = ?")
                        .bind(id.get())
                        .fetch_one(&mut *tx)
                        .await?;
                if members > 0 {
                    return Err(Conflict::QueueLocked.into());
                }
            }
            let mode = changes.sale.sale_mode;
            let switching = SaleMode::from_db(&current) != mode;
            if switching {
                // The product row is locked (or the database is): no order or entry can start.
                let used: i64 = sqlx::query_scalar(
                    "SELECT (SELECT COUNT(*) FROM orders WHERE product_id = ?) + \
                     (SELECT COUNT(*) FROM draw_entry WHERE product_id = ?)",
                )
                .bind(id.get())
                .bind(id.get())
                .fetch_one(&mut *tx)
                .await?;
                if used > 0 {
                    return Err(Conflict::SaleModeLocked.into());
                }
            }
            let update = sqlx::query(
                "UPDATE product SET name = ?, price = ?, sale_starts_at = ?, sale_ends_at = ?, \
                 per_user_limit = ?, hold_seconds = ?, line_policy = ?, sale_mode = ?, alert_mode = ?, \
                 claim_seconds = ?, queue_enabled = ?, queue_opens_at = ?, queue_admit_seconds = ?, \
                 queue_admit_rate = ?, updated_at = ? WHERE id = ?",
            )
            .bind(changes.name.as_str());
            bind_sale(update, &changes.sale, &changes.alert, &changes.queue)
                .bind(now.timestamp_millis())
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            if switching {
                let seed = seed_for(mode, changes.draw_seed.as_deref());
                sqlx::query("UPDATE product SET draw_seed = ?, draw_seed_hash = ? WHERE id = ?")
                    .bind(seed)
                    .bind(seed.map(seed_hash))
                    .bind(id.get())
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(seed) = changes.queue_seed.as_deref() {
                sqlx::query(
                    "UPDATE product SET queue_seed = ?, queue_seed_hash = ? \
                     WHERE id = ? AND queue_seed IS NULL",
                )
                .bind(seed)
                .bind(seed_hash(seed))
                .bind(id.get())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            self.get_product(id).await?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn all_stock(&self) -> StoreResult<Vec<StockRecord>> {
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT id, stock, stock_version FROM product ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(stock_record).collect())
    }

    async fn stock_of(&self, product: ProductId) -> StoreResult<Option<StockRecord>> {
        let row: Option<(i64, i64, i64)> =
            sqlx::query_as("SELECT id, stock, stock_version FROM product WHERE id = ?")
                .bind(product.get())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(stock_record))
    }
}

fn stock_record((id, stock, version): (i64, i64, i64)) -> StockRecord {
    StockRecord {
        product: ProductId::from_db(id),
        stock,
        version,
    }
}

/// The seed to store: the given one for a draw product, none otherwise.
fn seed_for(mode: SaleMode, seed: Option<&str>) -> Option<&str> {
    match mode {
        SaleMode::Draw => seed,
        SaleMode::FirstCome => None,
    }
}
