//! The restock-alert line on MySQL / MariaDB.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::MysqlStore;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::rows::{
    BATCH_ROWS, ImportPlan, LineRow, dedupe_in_order, plan_import, push_id_list,
};
use crate::store::{LineStore, StoreResult};

/// Reads the line in order: the hottest query of a round, served by `line_by_product`.
///
/// The index is forced because MariaDB otherwise picks `ref` access on its first two parts and
/// filters `id` row by row, so every page costs as much as the line before it (measured: 176 ms
/// per page a million deep, 1.6 ms as a range seek on all three parts).
pub const LINE_PAGE_SQL: &str = "SELECT id, product_id, user_id, is_active, created_at \
     FROM product_user_notification FORCE INDEX (line_by_product) \
     WHERE product_id = ? AND is_active = 1 AND id > ? AND id <= ? ORDER BY id LIMIT ?";

#[async_trait]
impl LineStore for MysqlStore {
    async fn join_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(JoinOutcome, Subscription)> {
        let mut tx = self.write_tx().await?;
        let existing: Option<LineRow> = sqlx::query_as(
            "SELECT id, product_id, user_id, is_active, created_at FROM product_user_notification \
             WHERE product_id = ? AND user_id = ?",
        )
        .bind(product.get())
        .bind(user.get())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            if row.is_active != 0 {
                tx.commit().await?;
                return Ok((JoinOutcome::AlreadyIn, row.into()));
            }
            // Joining again goes to the back: a fresh row takes a fresh (larger) id.
            sqlx::query("DELETE FROM product_user_notification WHERE id = ?")
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
        }
        // INSERT IGNORE: a concurrent join of the same user that committed first wins.
        let done = sqlx::query(
            "INSERT IGNORE INTO product_user_notification (product_id, user_id, is_active, created_at, updated_at) \
             VALUES (?, ?, 1, ?, ?)",
        )
        .bind(product.get())
        .bind(user.get())
        .bind(now.timestamp_millis())
        .bind(now.timestamp_millis())
        .execute(&mut *tx)
        .await?;
        let outcome = if done.rows_affected() == 1 {
            JoinOutcome::Joined
        } else {
            JoinOutcome::AlreadyIn
        };
        let row: LineRow = sqlx::query_as(
            "SELECT id, product_id, user_id, is_active, created_at FROM product_user_notification \
             WHERE product_id = ? AND user_id = ?",
        )
        .bind(product.get())
        .bind(user.get())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((outcome, row.into()))
    }

    async fn leave_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE product_user_notification SET is_active = 0, updated_at = ? \
             WHERE product_id = ? AND user_id = ? AND is_active = 1",
        )
        .bind(now.timestamp_millis())
        .bind(product.get())
        .bind(user.get())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn user_subscriptions(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Subscription>> {
        let rows: Vec<LineRow> = sqlx::query_as(
            "SELECT id, product_id, user_id, is_active, created_at FROM product_user_notification \
             WHERE user_id = ? AND is_active = 1 AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(user.get())
        .bind(page.after.unwrap_or(0))
        .bind(page.fetch())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Subscription::from).collect())
    }

    async fn import_line(
        &self,
        product: ProductId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> StoreResult<ImportOutcome> {
        let (fresh, repeats) = dedupe_in_order(users);
        let mut outcome = ImportOutcome {
            imported: 0,
            already_active: repeats,
        };
        let mut tx = self.write_tx().await?;
        for chunk in fresh.chunks(BATCH_ROWS) {
            let mut q = QueryBuilder::new(
                "SELECT id, product_id, user_id, is_active, created_at FROM product_user_notification \
                 WHERE product_id = ",
            );
            q.push_bind(product.get()).push(" AND user_id IN ");
            push_id_list(&mut q, chunk.iter().map(|u| u.get()));
            let existing: Vec<LineRow> = q.build_query_as().fetch_all(&mut *tx).await?;
            let ImportPlan {
                already_active,
                stale,
                append,
            } = plan_import(chunk, existing);
            outcome.already_active += already_active;
            if !stale.is_empty() {
                let mut del =
                    QueryBuilder::new("DELETE FROM product_user_notification WHERE id IN ");
                push_id_list(&mut del, stale);
                del.build().execute(&mut *tx).await?;
            }
            if !append.is_empty() {
                let mut ins = QueryBuilder::new(
                    "INSERT INTO product_user_notification (product_id, user_id, is_active, created_at, updated_at) ",
                );
                ins.push_values(&append, |mut b, u| {
                    b.push_bind(product.get())
                        .push_bind(u.get())
                        .push_bind(1_i64)
                        .push_bind(now.timestamp_millis())
                        .push_bind(now.timestamp_millis());
                });
                ins.build().execute(&mut *tx).await?;
                outcome.imported += append.len() as u64;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    async fn line_page(
        &self,
        product: ProductId,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> StoreResult<Vec<Subscription>> {
        let rows: Vec<LineRow> = sqlx::query_as(LINE_PAGE_SQL)
            .bind(product.get())
            .bind(after)
            .bind(upto)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(Subscription::from).collect())
    }
}
