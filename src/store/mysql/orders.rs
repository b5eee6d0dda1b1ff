//! Orders on MySQL / MariaDB: every change locks the product row first (`FOR UPDATE`), then
//! the order, so all writers of one product's orders queue in the same lock order.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{MySql, Transaction};

use super::MysqlStore;
use crate::domain::Conflict;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, Step, StockVersion,
    Transition,
};
use crate::domain::page::PageRequest;
use crate::store::orders::{
    Change, OrderRow, SaleRow, is_unique_violation, lost_race, order_select,
};
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

async fn order_in(tx: &mut Tx, id: OrderId, lock: bool) -> StoreResult<Option<Order>> {
    let sql = if lock {
        order_select!("WHERE id = ? FOR UPDATE")
    } else {
        order_select!("WHERE id = ?")
    };
    let row: Option<OrderRow> = sqlx::query_as(sql)
        .bind(id.get())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(Order::from))
}

/// Moves a RESERVED or PAID order to `to` and returns its units to stock; None when the
/// order was in neither state, else the product's stock version after the change.
async fn release(
    tx: &mut Tx,
    order: &Order,
    to: &str,
    now: i64,
) -> StoreResult<Option<StockVersion>> {
    let done = sqlx::query(
        "UPDATE orders SET status = ?, updated_at = ? \
         WHERE id = ? AND status IN ('RESERVED', 'PAID')",
    )
    .bind(to)
    .bind(now)
    .bind(order.id.get())
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let version = add_stock(tx, order.product_id.get(), order.quantity.get()).await?;
    Ok(Some(version))
}

impl MysqlStore {
    /// Runs a pay or cancel request for one order in one transaction.
    async fn transition(
        &self,
        id: OrderId,
        change: Change<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        let now_ms = now.timestamp_millis();
        let product = self
            .get_order(id)
            .await?
            .ok_or(StoreError::NotFound)?
            .product_id;
        let mut tx = self.write_tx().await?;
        sqlx::query("SELECT id FROM product WHERE id = ? FOR UPDATE")
            .bind(product.get())
            .execute(&mut *tx)
            .await?;
        let order = order_in(&mut tx, id, true)
            .await?
            .ok_or(StoreError::NotFound)?;
        let (done, returned, refused) = match (change.step(&order, now), change) {
            (Step::Answer(refused), _) => {
                tx.commit().await?;
                return Ok(Transition {
                    order,
                    returned: 0,
                    refused,
                    stock_version: 0,
                });
            }
            (Step::Expire, _) => (
                release(&mut tx, &order, "EXPIRED", now_ms).await?,
                order.quantity.get(),
                Some(Conflict::ReservationExpired),
            ),
            (Step::Apply, Change::Cancel) => (
                release(&mut tx, &order, "CANCELED", now_ms).await?,
                order.quantity.get(),
                None,
            ),
            (Step::Apply, Change::Pay(payment)) => {
                let paid = sqlx::query(
                    "UPDATE orders SET status = 'PAID', paid_at = ?, payment_ref = ?, updated_at = ? \
                     WHERE id = ? AND status = 'RESERVED' AND expires_at > ?",
                )
                .bind(now_ms)
                .bind(payment.as_str())
                .bind(now_ms)
                .bind(id.get())
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
                ((paid.rows_affected() == 1).then_some(0), 0, None)
            }
        };
        // The order row is locked, so it is exactly as read and the update matched.
        let Some(stock_version) = done else {
            return Err(lost_race());
        };
        let order = order_in(&mut tx, id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(Transition {
            order,
            returned,
            refused,
            stock_version,
        })
    }

    /// A racing insert with the same key lost: answer with what the winner stored.
    async fn replay_key(&self, req: &OrderRequest) -> StoreResult<Placement> {
        let key = req.idempotency_key.as_ref().ok_or(StoreError::NotFound)?;
        let existing = self
            .order_by_key(req.user_id, key)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok(req.replay(existing)?)
    }
}

#[async_trait]
impl OrderStore for MysqlStore {
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
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

    async fn order_by_key(&self, user: UserId, key: &IdempotencyKey) -> StoreResult<Option<Order>> {
        let row: Option<OrderRow> =
            sqlx::query_as(order_select!("WHERE user_id = ? AND idempotency_key = ?"))
                .bind(user.get())
                .bind(key.as_str())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(Order::from))
    }

    async fn get_order(&self, id: OrderId) -> StoreResult<Option<Order>> {
        let row: Option<OrderRow> = sqlx::query_as(order_select!("WHERE id = ?"))
            .bind(id.get())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(Order::from))
    }

    async fn user_orders(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Order>> {
        let rows: Vec<OrderRow> = sqlx::query_as(order_select!(
            "WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?"
        ))
        .bind(user.get())
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(page.fetch())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Order::from).collect())
    }

    async fn pay_order(
        &self,
        id: OrderId,
        payment: &PaymentRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        self.transition(id, Change::Pay(payment), now).await
    }

    async fn cancel_order(&self, id: OrderId, now: DateTime<Utc>) -> StoreResult<Transition> {
        self.transition(id, Change::Cancel, now).await
    }

    async fn units_held(&self, product: ProductId) -> StoreResult<i64> {
        let held: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS SIGNED) FROM orders \
             WHERE product_id = ? AND status IN ('RESERVED', 'PAID')",
        )
        .bind(product.get())
        .fetch_one(self.pool())
        .await?;
        Ok(held)
    }

    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        super::order_expiry::expire_due(self, now, limit).await
    }
}
