//! Orders on SQLite: each change is one `BEGIN IMMEDIATE` transaction, queued in process;
//! placements go through the group-commit writer in `order_batch`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Sqlite, Transaction};
use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::SqliteStore;
use super::order_batch::Placing;
use crate::domain::Conflict;
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::{
    Expired, IdempotencyKey, Order, OrderRequest, PaymentRef, Placement, Returned, Step,
    StockVersion, Transition,
};
use crate::domain::page::PageRequest;
use crate::store::orders::{Change, OrderRow, lost_race, order_select};
use crate::store::{OrderStore, StoreError, StoreResult};

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

async fn order_in(tx: &mut Tx, id: OrderId) -> StoreResult<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(order_select!("WHERE id = ?"))
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

impl SqliteStore {
    /// Runs a pay or cancel request for one order in one transaction.
    async fn transition(
        &self,
        id: OrderId,
        change: Change<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<Transition> {
        let now_ms = now.timestamp_millis();
        let _turn = self.order_writes.lock().await;
        let mut tx = self.write_tx().await?;
        let order = order_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
        let (done, returned, refused) = match (change.step(&order, now), change) {
            (Step::Answer(refused), _) => {
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
        // The write lock is held, so the order is exactly as read and the update matched.
        let Some(stock_version) = done else {
            return Err(lost_race());
        };
        let order = order_in(&mut tx, id).await?.ok_or(StoreError::NotFound)?;
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
impl OrderStore for SqliteStore {
    async fn place_order(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
        let (reply, answer) = oneshot::channel();
        let placing = Placing {
            req: req.clone(),
            now,
            reply,
        };
        let gone = || StoreError::Database(sqlx::Error::PoolClosed);
        self.placements.send(placing).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
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
            "SELECT COALESCE(SUM(quantity), 0) FROM orders \
             WHERE product_id = ? AND status IN ('RESERVED', 'PAID')",
        )
        .bind(product.get())
        .fetch_one(self.pool())
        .await?;
        Ok(held)
    }

    async fn expire_due(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
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
        let mut done = Vec::with_capacity(returned.len());
        for (product, units) in returned {
            let stock_version = add_stock(&mut tx, product, units).await?;
            done.push(Returned {
                product: ProductId::from_db(product),
                units,
                stock_version,
            });
        }
        tx.commit().await?;
        Ok(Expired {
            orders,
            returned: done,
        })
    }
}
