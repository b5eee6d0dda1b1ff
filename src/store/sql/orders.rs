//! Order reads, pay and cancel. Placing and expiring orders is each backend's own.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Transaction};

use super::{DIALECT, Db, SqlStore, add_stock, lock_product};
use crate::domain::Conflict;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, Step, StockVersion,
    Transition,
};
use crate::domain::page::PageRequest;
use crate::store::orders::{Change, OrderRow, lost_race, order_select};
use crate::store::retry::lock_races;
use crate::store::{OrderStore, StoreError, StoreResult};

type Tx = Transaction<'static, Db>;

/// Reads one order inside a transaction; `lock` keeps its row locked until the end.
pub(crate) async fn order_in(tx: &mut Tx, id: OrderId, lock: bool) -> StoreResult<Option<Order>> {
    let lock = if lock { DIALECT.lock } else { "" };
    let row: Option<OrderRow> = sqlx::query_as(AssertSqlSafe(format!(
        concat!(order_select!("WHERE id = ?"), "{}"),
        lock
    )))
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

impl SqlStore {
    /// One try of a pay or cancel request for one order, in one transaction; the callers run
    /// it again from the start when it lost a lock race (see `store::retry`).
    async fn transition(
        &self,
        id: OrderId,
        product: ProductId,
        change: Change<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        let now_ms = now.timestamp_millis();
        let _turn = self.order_turn().await;
        let mut tx = self.write_tx().await?;
        // With row locks, the product's row is locked before the order's, as by every
        // other writer of the product's orders.
        if DIALECT.row_locks() {
            let _: Option<(i64,)> = lock_product(&mut tx, product, "id").await?;
        }
        let order = order_in(&mut tx, id, true)
            .await?
            // An order of another product is not the one asked for.
            .filter(|o| o.product_id == product)
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
        // The order row is locked (or the whole database is), so it is exactly as read and
        // the update matched.
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
}

#[async_trait]
impl OrderStore for SqlStore {
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
        self.place(req, now).await
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
        let sql = order_select!("WHERE user_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
        let binds = [user.get(), page.after.unwrap_or(i64::MAX), page.fetch()];
        self.rows::<OrderRow, _>(sql, &binds).await
    }

    async fn pay_order(
        &self,
        id: OrderId,
        product: ProductId,
        payment: &PaymentRef,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        lock_races("pay", || {
            self.transition(id, product, Change::Pay(payment), now)
        })
        .await
    }

    async fn cancel_order(
        &self,
        id: OrderId,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        lock_races("cancel", || {
            self.transition(id, product, Change::Cancel, now)
        })
        .await
    }

    async fn units_held(&self, product: ProductId) -> StoreResult<i64> {
        let held: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS {}) FROM orders \
             WHERE product_id = ? AND status IN ('RESERVED', 'PAID')",
            DIALECT.integer
        )))
        .bind(product.get())
        .fetch_one(self.pool())
        .await?;
        Ok(held)
    }

    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        self.expire(now, limit).await
    }
}
