//! Expiring due holds on SQLite, and the stock update every order change makes: each change
//! is one `BEGIN IMMEDIATE` transaction, queued in process.

use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};
use std::collections::BTreeMap;

use super::SqliteStore;
use crate::domain::order::{Expired, StockVersion};
use crate::store::{StoreError, StoreResult};

type Tx = Transaction<'static, Sqlite>;

/// Moves a product's stock by `delta` and bumps its stock version in the same statement;
/// answers the new version.
pub(super) async fn add_stock(tx: &mut Tx, product: i64, delta: i64) -> StoreResult<StockVersion> {
    let version: Option<i64> = sqlx::query_scalar(
        "UPDATE product SET stock = stock + ?, stock_version = stock_version + 1 \
         WHERE id = ? RETURNING stock_version",
    )
    .bind(delta)
    .bind(product)
    .fetch_optional(&mut **tx)
    .await?;
    version.ok_or(StoreError::NotFound)
}

impl SqliteStore {
    /// Expires up to `limit` RESERVED orders whose hold ended by `now` and returns their
    /// units, in one transaction.
    pub(super) async fn expire(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        let now_ms = now.timestamp_millis();
        let _turn = self.order_writes.lock().await;
        let mut tx = self.write_tx().await?;
        let expired: Vec<(i64, i64)> = sqlx::query_as(
            "UPDATE orders SET status = 'EXPIRED', updated_at = ? \
             WHERE id IN (SELECT id FROM orders WHERE status = 'RESERVED' AND expires_at <= ? \
             ORDER BY expires_at LIMIT ?) AND status = 'RESERVED' \
             RETURNING product_id, quantity",
        )
        .bind(now_ms)
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let orders = expired.len();
        let mut returned: BTreeMap<i64, i64> = BTreeMap::new();
        for (product, quantity) in expired {
            *returned.entry(product).or_default() += quantity;
        }
        let done = super::sql::return_units(&mut tx, returned).await?;
        tx.commit().await?;
        Ok(Expired {
            orders,
            returned: done,
        })
    }
}
