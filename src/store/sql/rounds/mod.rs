//! Restock rounds: reads, the run's progress and end, and the leases of running rounds;
//! opening and resuming a round are in `opening.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

mod opening;

use super::{DIALECT, SqlStore};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::StockVersion;
use crate::domain::page::PageRequest;
use crate::domain::round::{Checkpoint, Lease, Recipient, Round, RoundStatus};
use crate::store::retry::lock_races;
use crate::store::rounds::{ROUND_COLUMNS, RecipientRow, RoundRow};
use crate::store::rows::{BATCH_ROWS, push_id_list};
use crate::store::{RoundStore, StoreResult};

/// A round's recipients in line order, a page at a time: served by `recipients_in_order`.
pub const RECIPIENTS_PAGE_SQL: &str = "SELECT user_id, position, line_id, sent_at \
     FROM product_user_notification_history \
     WHERE product_id = ? AND round = ? AND position > ? ORDER BY position LIMIT ?";

/// The recovery worker's look for the running rounds it holds (a handful, every few seconds).
const HELD_ROUNDS_SQL: &str = "SELECT product_id, round FROM product_notification_history \
     WHERE status = 'IN_PROGRESS' AND lease_owner = ? ORDER BY id LIMIT ?";

/// The holders of running rounds other than the asking instance (served by `rounds_by_status`).
const ROUND_OWNERS_SQL: &str = "SELECT DISTINCT lease_owner FROM product_notification_history \
     WHERE status = 'IN_PROGRESS' AND lease_owner IS NOT NULL AND lease_owner <> ?";

fn select_rounds() -> String {
    format!("SELECT {ROUND_COLUMNS} FROM product_notification_history h")
}

#[async_trait]
impl RoundStore for SqlStore {
    async fn open_round(
        &self,
        product: ProductId,
        quantity: i64,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<(Round, StockVersion)> {
        opening::open(self, product, quantity, lease, now).await
    }

    async fn resume_round(
        &self,
        product: ProductId,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Round> {
        opening::resume(self, product, lease, now).await
    }

    async fn get_round(&self, product: ProductId, round: i64) -> StoreResult<Option<Round>> {
        let row: Option<RoundRow> = sqlx::query_as(AssertSqlSafe(format!(
            "{} WHERE product_id = ? AND round = ?",
            select_rounds()
        )))
        .bind(product.get())
        .bind(round)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Round::from))
    }

    async fn list_rounds(&self, product: ProductId, page: &PageRequest) -> StoreResult<Vec<Round>> {
        let sql = format!(
            "{} WHERE product_id = ? AND round < ? ORDER BY round DESC LIMIT ?",
            select_rounds()
        );
        let binds = [product.get(), page.after.unwrap_or(i64::MAX), page.fetch()];
        self.rows::<RoundRow, _>(AssertSqlSafe(sql), &binds).await
    }

    async fn recipients(
        &self,
        product: ProductId,
        round: i64,
        page: &PageRequest,
    ) -> StoreResult<Vec<Recipient>> {
        let binds = [product.get(), round, page.after.unwrap_or(0), page.fetch()];
        self.rows::<RecipientRow, _>(RECIPIENTS_PAGE_SQL, &binds)
            .await
    }

    async fn recipients_among(
        &self,
        product: ProductId,
        round: i64,
        users: &[UserId],
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let mut found = Vec::new();
        for chunk in users.chunks(BATCH_ROWS) {
            let mut q = QueryBuilder::new(
                "SELECT user_id, position FROM product_user_notification_history WHERE product_id = ",
            );
            q.push_bind(product.get())
                .push(" AND round = ")
                .push_bind(round)
                .push(" AND user_id IN ");
            push_id_list(&mut q, chunk.iter().map(|u| u.get()));
            let rows: Vec<(i64, i64)> = q.build_query_as().fetch_all(self.pool()).await?;
            found.extend(rows.into_iter().map(|(u, p)| (UserId::from_db(u), p)));
        }
        Ok(found)
    }

    async fn record_progress(
        &self,
        product: ProductId,
        round: i64,
        rows: &[Recipient],
        checkpoint: &Checkpoint,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        lock_races("round checkpoint", || async {
            let mut tx = self.write_tx().await?;
            let mut inserted = 0_i64;
            for chunk in rows.chunks(BATCH_ROWS) {
                let mut ins = QueryBuilder::new(format!(
                    "{} INTO product_user_notification_history \
                     (product_id, round, user_id, position, line_id, sent_at) ",
                    DIALECT.insert_ignore
                ));
                ins.push_values(chunk, |mut b, r| {
                    b.push_bind(product.get())
                        .push_bind(round)
                        .push_bind(r.user_id.get())
                        .push_bind(r.position)
                        .push_bind(r.line_id)
                        .push_bind(r.sent_at.timestamp_millis());
                });
                // Not cached: batch sizes vary, and every size would keep its own prepared
                // statement on every connection.
                inserted += ins
                    .build()
                    .persistent(false)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
            }
            let done = sqlx::query(
                "UPDATE product_notification_history SET line_cursor = ?, wrapped = ?, \
                 last_sent_user_id = COALESCE(?, last_sent_user_id), notified_count = notified_count + ?, \
                 lease_expires_at = ?, updated_at = ? \
                 WHERE product_id = ? AND round = ? AND status = 'IN_PROGRESS' AND lease_owner = ?",
            )
            .bind(checkpoint.cursor)
            .bind(i64::from(checkpoint.wrapped))
            .bind(checkpoint.last_sent_user_id.map(UserId::get))
            .bind(inserted)
            .bind(lease.expires_at.timestamp_millis())
            .bind(now.timestamp_millis())
            .bind(product.get())
            .bind(round)
            .bind(&lease.owner)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    async fn finish_round(
        &self,
        product: ProductId,
        round: i64,
        status: RoundStatus,
        error: Option<&str>,
        owner: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE product_notification_history SET status = ?, error = ?, finished_at = ?, \
             lease_owner = NULL, lease_expires_at = NULL, updated_at = ? \
             WHERE product_id = ? AND round = ? AND status = 'IN_PROGRESS' AND lease_owner = ?",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(product.get())
        .bind(round)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_round(&self, product: ProductId, round: i64, owner: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE product_notification_history SET lease_owner = NULL, lease_expires_at = NULL \
             WHERE product_id = ? AND round = ? AND lease_owner = ?",
        )
        .bind(product.get())
        .bind(round)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn claim_rounds(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(ProductId, i64)>> {
        // Every instance looks every second: a plain read first, so that the usual look, with
        // nothing to take, locks nothing and never contends with the runners' checkpoints.
        let claimable: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM product_notification_history \
             WHERE status = 'IN_PROGRESS' AND (lease_owner IS NULL OR lease_expires_at < ?) LIMIT 1",
        )
        .bind(now.timestamp_millis())
        .fetch_optional(self.pool())
        .await?;
        if claimable.is_some() {
            sqlx::query(
                "UPDATE product_notification_history SET lease_owner = ?, lease_expires_at = ? \
                 WHERE status = 'IN_PROGRESS' AND (lease_owner IS NULL OR lease_expires_at < ?)",
            )
            .bind(&lease.owner)
            .bind(lease.expires_at.timestamp_millis())
            .bind(now.timestamp_millis())
            .execute(self.pool())
            .await?;
        }
        let rows: Vec<(i64, i64)> = sqlx::query_as(HELD_ROUNDS_SQL)
            .bind(&lease.owner)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(p, r)| (ProductId::from_db(p), r))
            .collect())
    }

    async fn round_owners(&self, me: &str) -> StoreResult<Vec<String>> {
        let owners: Vec<String> = sqlx::query_scalar(ROUND_OWNERS_SQL)
            .bind(me)
            .fetch_all(self.pool())
            .await?;
        Ok(owners)
    }

    async fn take_rounds_of(
        &self,
        owner: &str,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        // Conditional on the old owner: of several instances taking at once, one wins.
        let done = sqlx::query(
            "UPDATE product_notification_history SET lease_owner = ?, lease_expires_at = ?, \
             updated_at = ? WHERE status = 'IN_PROGRESS' AND lease_owner = ?",
        )
        .bind(&lease.owner)
        .bind(lease.expires_at.timestamp_millis())
        .bind(now.timestamp_millis())
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}
