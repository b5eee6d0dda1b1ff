//! Placing orders on MySQL / MariaDB: every change locks the product row first (`FOR UPDATE`),
//! then the order, so all writers of one product's orders queue in the same lock order.

use chrono::{DateTime, Utc};
use sqlx::{MySql, Transaction};

use super::MysqlStore;
use super::sql::orders::order_in;
use crate::domain::Conflict;
use crate::domain::ids::OrderId;
use crate::domain::order::{IdempotencyKey, OrderRequest, Placement, StockVersion};
use crate::store::orders::{OrderRow, SaleRow, is_unique_violation, order_select};
use crate::store::{OrderStore, StoreError, StoreResult};

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
    /// A racing insert with the same key lost: answer with what the winner stored.
    async fn replay_key(&self, req: &OrderRequest) -> StoreResult<Placement> {
        let key = req.idempotency_key.as_ref().ok_or(StoreError::NotFound)?;
        let existing = self
            .order_by_key(req.user_id, key)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(req.replay(existing)?)
    }

    /// Places an order in one transaction that locks the product row first.
    pub(super) async fn place(
        &self,
        req: &OrderRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<Placement> {
        let now_ms = now.timestamp_millis();
        let mut tx = self.write_tx().await?;
        // The product lock queues every order of this product; the reads below run after
        // it, so they see every order committed before (InnoDB takes the read view then).
        let sale: SaleRow = sqlx::query_as(
            "SELECT sale_starts_at, sale_ends_at, per_user_limit, hold_seconds \
             FROM product WHERE id = ? FOR UPDATE",
        )
        .bind(req.product_id.get())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if let Some(key) = &req.idempotency_key {
            let known: Option<OrderRow> =
                sqlx::query_as(order_select!("WHERE user_id = ? AND idempotency_key = ?"))
                    .bind(req.user_id.get())
                    .bind(key.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = known {
                tx.commit().await?;
                return Ok(req.replay(row.into())?);
            }
        }
        // SUM of a BIGINT is DECIMAL on MySQL/MariaDB: cast it back to an integer.
        let held: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM orders \
             WHERE product_id = ? AND user_id = ? AND status IN ('RESERVED', 'PAID')",
        )
        .bind(req.product_id.get())
        .bind(req.user_id.get())
        .fetch_one(&mut *tx)
        .await?;
        sale.terms().admit(now_ms, held, req.quantity)?;
        let taken = sqlx::query(
            "UPDATE product SET stock = stock - ?, stock_version = stock_version + 1 \
             WHERE id = ? AND stock >= ?",
        )
        .bind(req.quantity.get())
        .bind(req.product_id.get())
        .bind(req.quantity.get())
        .execute(&mut *tx)
        .await?;
        // sqlx connects with CLIENT_FOUND_ROWS, so this counts matched rows; a match always
        // changes the row here (quantity >= 1), so matched and changed agree.
        if taken.rows_affected() != 1 {
            return Err(Conflict::SoldOut.into());
        }
        let inserted = sqlx::query(
            "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
             created_at, expires_at, updated_at) VALUES (?, ?, ?, 'RESERVED', ?, ?, ?, ?)",
        )
        .bind(req.product_id.get())
        .bind(req.user_id.get())
        .bind(req.quantity.get())
        .bind(req.idempotency_key.as_ref().map(IdempotencyKey::as_str))
        .bind(now_ms)
        .bind(now_ms + sale.hold_seconds * 1000)
        .bind(now_ms)
        .execute(&mut *tx)
        .await;
        let id = match inserted {
            Ok(done) => OrderId::from_db(done.last_insert_id() as i64),
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return self.replay_key(req).await;
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query(
            "UPDATE product_user_notification SET is_active = 0, updated_at = ? \
             WHERE product_id = ? AND user_id = ? AND is_active = 1",
        )
        .bind(now_ms)
        .bind(req.product_id.get())
        .bind(req.user_id.get())
        .execute(&mut *tx)
        .await?;
        let order = order_in(&mut tx, id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        let version = stock_version(&mut tx, req.product_id.get()).await?;
        tx.commit().await?;
        Ok(Placement::Created(order, version))
    }
}
