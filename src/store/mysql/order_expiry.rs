//! Expiring due holds on MySQL / MariaDB: one transaction per batch, products locked first.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use std::collections::BTreeMap;

use super::MysqlStore;
use crate::domain::order::Expired;
use crate::store::StoreResult;
use crate::store::retry::lock_races;

/// Expires up to `limit` RESERVED orders whose hold ended by `now` and returns their units;
/// again from the start when the batch lost a lock race (see `store::retry`).
pub(super) async fn expire_due(
    store: &MysqlStore,
    now: DateTime<Utc>,
    limit: i64,
) -> StoreResult<Expired> {
    lock_races("order expiry", || expire_once(store, now, limit)).await
}

/// One try of [`expire_due`].
async fn expire_once(store: &MysqlStore, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
    let now_ms = now.timestamp_millis();
    let sql = "SELECT id, product_id, quantity FROM orders \
         WHERE status = 'RESERVED' AND expires_at <= ? ORDER BY expires_at LIMIT ?";
    let due: Vec<(i64, i64, i64)> = store
        .rows::<(i64, i64, i64), _>(sql, &[now_ms, limit])
        .await?;
    if due.is_empty() {
        return Ok(Expired::default());
    }
    let mut tx = store.write_tx().await?;
    // Products first, in id order: the same lock order as every other order change.
    let mut products: Vec<i64> = due.iter().map(|(_, p, _)| *p).collect();
    products.sort_unstable();
    products.dedup();
    let mut lock = QueryBuilder::new("SELECT id FROM product WHERE id IN (");
    let mut ids = lock.separated(", ");
    for p in &products {
        ids.push_bind(*p);
    }
    lock.push(") ORDER BY id FOR UPDATE");
    lock.build().execute(&mut *tx).await?;
    let mut orders = 0;
    let mut returned: BTreeMap<i64, i64> = BTreeMap::new();
    for (id, product, quantity) in due {
        // Conditional: a pay or cancel that committed first keeps its order.
        let done = sqlx::query(
            "UPDATE orders SET status = 'EXPIRED', updated_at = ? \
             WHERE id = ? AND status = 'RESERVED' AND expires_at <= ?",
        )
        .bind(now_ms)
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            orders += 1;
            *returned.entry(product).or_default() += quantity;
        }
    }
    let done = super::sql::return_units(&mut tx, returned).await?;
    tx.commit().await?;
    Ok(Expired {
        orders,
        returned: done,
    })
}
