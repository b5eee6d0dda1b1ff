//! Opening a round (a restock: units, stock version and the round row in one transaction)
//! and resuming one that ended in error; both start from the product's latest round.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Transaction};

use super::super::{DIALECT, Db, SqlStore, lock_product};
use super::select_rounds;
use crate::domain::Conflict;
use crate::domain::ids::ProductId;
use crate::domain::order::StockVersion;
use crate::domain::product::{LinePolicy, check_restock};
use crate::domain::round::{Lease, Round, RoundStatus};
use crate::store::retry::lock_races;
use crate::store::rounds::RoundRow;
use crate::store::{RoundStore, StoreError, StoreResult};

/// The product's latest round, read inside a transaction that has locked the product.
///
/// A plain read: the product row lock already serialises round changes of this product, and
/// a locking read here would take a gap lock that deadlocks with another product's first
/// round inserting into the same gap.
async fn latest_round(
    tx: &mut Transaction<'static, Db>,
    product: ProductId,
) -> StoreResult<Option<Round>> {
    let latest: Option<RoundRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{} WHERE product_id = ? ORDER BY round DESC LIMIT 1",
        select_rounds()
    )))
    .bind(product.get())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(latest.map(Round::from))
}

/// Adds `quantity` units to the product and opens its next round, leased to `lease.owner`;
/// answers the round and the product's stock version after the change.
pub(super) async fn open(
    store: &SqlStore,
    product: ProductId,
    quantity: i64,
    lease: &Lease,
    now: DateTime<Utc>,
) -> StoreResult<(Round, StockVersion)> {
    lock_races("restock", || async {
        let mut tx = store.write_tx().await?;
        let columns = "stock, restock_round, line_policy, alert_mode, claim_seconds";
        let (stock, last_round, policy, alert_mode, claim_seconds): (
            i64,
            i64,
            String,
            String,
            i64,
        ) = lock_product(&mut tx, product, columns)
            .await?
            .ok_or(StoreError::NotFound)?;
        let latest = latest_round(&mut tx, product).await?;
        if latest
            .as_ref()
            .is_some_and(|r| r.status == RoundStatus::InProgress)
        {
            return Err(Conflict::RoundInProgress.into());
        }
        if stock + quantity <= 0 {
            return Err(Conflict::OutOfStock.into());
        }
        if quantity > 0 {
            // Units in orders and in open claims: stocked, though not free.
            let held: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT CAST(COALESCE(SUM(quantity), 0) AS {}) + \
                 (SELECT COUNT(*) FROM claim WHERE product_id = ? AND status = 'OPEN') FROM orders \
                 WHERE product_id = ? AND status IN ('RESERVED', 'PAID')",
                DIALECT.integer
            )))
            .bind(product.get())
            .bind(product.get())
            .fetch_one(&mut *tx)
            .await?;
            check_restock(stock, held, quantity)?;
        }
        let start = latest
            .as_ref()
            .map_or(0, |r| r.next_start(LinePolicy::from_db(&policy)));
        let round = last_round + 1;
        let ms = now.timestamp_millis();
        sqlx::query(
            "UPDATE product SET stock = stock + ?, stock_version = stock_version + 1, \
             restock_round = ?, updated_at = ? WHERE id = ?",
        )
        .bind(quantity)
        .bind(round)
        .bind(ms)
        .bind(product.get())
        .execute(&mut *tx)
        .await?;
        let version: i64 = sqlx::query_scalar("SELECT stock_version FROM product WHERE id = ?")
            .bind(product.get())
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO product_notification_history (product_id, round, status, line_cursor, \
             start_position, wrapped, notified_count, started_at, lease_owner, lease_expires_at, \
             updated_at, alert_mode, claim_seconds) \
             VALUES (?, ?, 'IN_PROGRESS', ?, ?, 0, 0, ?, ?, ?, ?, ?, ?)",
        )
        .bind(product.get())
        .bind(round)
        .bind(start)
        .bind(start)
        .bind(ms)
        .bind(&lease.owner)
        .bind(lease.expires_at.timestamp_millis())
        .bind(ms)
        .bind(alert_mode)
        .bind(claim_seconds)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let opened = store
            .get_round(product, round)
            .await?
            .ok_or(StoreError::NotFound)?;
        Ok((opened, version))
    })
    .await
}

/// Runs the product's latest round again, leased to `lease.owner`, when it ended in error.
pub(super) async fn resume(
    store: &SqlStore,
    product: ProductId,
    lease: &Lease,
    now: DateTime<Utc>,
) -> StoreResult<Round> {
    lock_races("resume", || async {
        let mut tx = store.write_tx().await?;
        // Serialises with open_round, which locks the product row first too.
        let exists: Option<(i64,)> = lock_product(&mut tx, product, "id").await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let Some(latest) = latest_round(&mut tx, product).await? else {
            return Err(Conflict::NothingToResume.into());
        };
        if !latest.status.can_move_to(RoundStatus::InProgress) {
            return Err(Conflict::NothingToResume.into());
        }
        let resumed = sqlx::query(
            "UPDATE product_notification_history SET status = 'IN_PROGRESS', finished_at = NULL, \
             error = NULL, lease_owner = ?, lease_expires_at = ?, updated_at = ? \
             WHERE product_id = ? AND round = ? AND status = 'CANCELED_BY_ERROR'",
        )
        .bind(&lease.owner)
        .bind(lease.expires_at.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(product.get())
        .bind(latest.round)
        .execute(&mut *tx)
        .await?;
        if resumed.rows_affected() == 0 {
            return Err(Conflict::NothingToResume.into());
        }
        tx.commit().await?;
        store
            .get_round(product, latest.round)
            .await?
            .ok_or(StoreError::NotFound)
    })
    .await
}
