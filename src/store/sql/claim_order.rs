//! The order of a claim holder: its first unit is the claim's, the rest free stock, written
//! with the claim's use in one transaction that locks the product's row first.

use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use super::orders::order_in;
use super::{DIALECT, SqlStore, add_stock, inserted_id, lock_product};
use crate::domain::Conflict;
use crate::domain::ids::{OrderId, ProductId};
use crate::domain::order::{OrderRequest, Placement, StockVersion};
use crate::store::orders::{OrderRow, SaleRow, order_select};
use crate::store::retry::lock_races;
use crate::store::{StoreError, StoreResult};

/// A product's sale settings and free stock, read under its row lock.
#[derive(Debug, sqlx::FromRow)]
struct Selling {
    stock: i64,
    #[sqlx(flatten)]
    sale: SaleRow,
}

/// The product's stock version as this transaction sees it.
async fn stock_version(
    tx: &mut sqlx::Transaction<'static, super::Db>,
    product: ProductId,
) -> StoreResult<StockVersion> {
    let v: Option<i64> = sqlx::query_scalar("SELECT stock_version FROM product WHERE id = ?")
        .bind(product.get())
        .fetch_optional(&mut **tx)
        .await?;
    v.ok_or(StoreError::NotFound)
}

/// See [`ClaimStore::place_claimed_order`](crate::store::ClaimStore::place_claimed_order).
pub(super) async fn place(
    store: &SqlStore,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> StoreResult<Option<Placement>> {
    lock_races("claimed order", || async {
        let product = req.product_id;
        let user = req.user_id.get();
        let mut tx = store.write_tx().await?;
        let selling: Option<Selling> = lock_product(
            &mut tx,
            product,
            "stock, sale_starts_at, sale_ends_at, per_user_limit, hold_seconds, sale_mode",
        )
        .await?;
        let Some(selling) = selling else {
            return Err(StoreError::NotFound);
        };
        if let Some(key) = &req.idempotency_key {
            let known: Option<OrderRow> =
                sqlx::query_as(order_select!("WHERE user_id = ? AND idempotency_key = ?"))
                    .bind(user)
                    .bind(key.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(known) = known {
                return Ok(Some(req.replay(known.into())?));
            }
        }
        let claim: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT id FROM claim WHERE product_id = ? AND user_id = ? AND status = 'OPEN' \
             ORDER BY id LIMIT 1{}",
            DIALECT.lock
        )))
        .bind(product.get())
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(claim) = claim else {
            return Ok(None);
        };
        let held: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS {}) FROM orders \
             WHERE product_id = ? AND user_id = ? AND status IN ('RESERVED', 'PAID')",
            DIALECT.integer
        )))
        .bind(product.get())
        .bind(user)
        .fetch_one(&mut *tx)
        .await?;
        let now_ms = now.timestamp_millis();
        selling
            .sale
            .terms()
            .admit(now_ms, held, req.quantity)
            .map_err(StoreError::from)?;
        // The claim's unit is the first; the rest comes from free stock.
        let rest = req.quantity.get() - 1;
        if selling.stock < rest {
            return Err(Conflict::SoldOut.into());
        }
        let done = sqlx::query(
            "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
             created_at, expires_at, updated_at) VALUES (?, ?, ?, 'RESERVED', ?, ?, ?, ?)",
        )
        .bind(product.get())
        .bind(user)
        .bind(req.quantity.get())
        .bind(req.idempotency_key.as_ref().map(|k| k.as_str()))
        .bind(now_ms)
        .bind(now_ms + selling.sale.hold_seconds * 1000)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let order = OrderId::from_db(inserted_id(&done));
        sqlx::query("UPDATE claim SET status = 'USED', order_id = ?, updated_at = ? WHERE id = ?")
            .bind(order.get())
            .bind(now_ms)
            .bind(claim)
            .execute(&mut *tx)
            .await?;
        let version = if rest > 0 {
            add_stock(&mut tx, product.get(), -rest).await?
        } else {
            stock_version(&mut tx, product).await?
        };
        sqlx::query(
            "UPDATE product_user_notification SET is_active = 0, updated_at = ? \
             WHERE product_id = ? AND user_id = ? AND is_active = 1",
        )
        .bind(now_ms)
        .bind(product.get())
        .bind(user)
        .execute(&mut *tx)
        .await?;
        let placed = order_in(&mut tx, order, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Some(Placement::Created(placed, version)))
    })
    .await
}
