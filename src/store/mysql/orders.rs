//! Orders on MySQL / MariaDB: every change locks the product row first (`FOR UPDATE`), then
//! the order, so all writers of one product's orders queue in the same lock order;
//! placements go through the group-commit writers in `order_batch`.

use chrono::{DateTime, Utc};
use sqlx::{MySql, Transaction};

use super::MysqlStore;
use crate::domain::order::{OrderRequest, Placement, StockVersion};
use crate::store::{StoreError, StoreResult};

type Tx = Transaction<'static, MySql>;

/// Moves a product's stock by `delta` and bumps its stock version (the row is locked by the
/// update); answers the new version.
pub(super) async fn add_stock(tx: &mut Tx, product: i64, delta: i64) -> StoreResult<StockVersion> {
    sqlx::query(
        "UPDATE product SET stock = stock + ?, stock_version = stock_version + 1 WHERE id = ?",
    )
    .bind(delta)
    .bind(product)
    .execute(&mut **tx)
    .await?;
    stock_version(tx, product).await
}

/// A product's stock version as this transaction sees it.
pub(super) async fn stock_version(tx: &mut Tx, product: i64) -> StoreResult<StockVersion> {
    let v: Option<i64> = sqlx::query_scalar("SELECT stock_version FROM product WHERE id = ?")
        .bind(product)
        .fetch_optional(&mut **tx)
        .await?;
    v.ok_or(StoreError::NotFound)
}

impl MysqlStore {
    /// Places an order through its product's group-commit writer: one lock and one commit
    /// for a batch of orders, decided in arrival order.
    pub(super) async fn place(
        &self,
        req: &OrderRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<Placement> {
        self.placements.place(req, now).await
    }
}
