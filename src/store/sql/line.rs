//! The restock-alert line.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Transaction};

use super::{DIALECT, Db, LINE_PAGE_SQL, SqlStore};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::retry::lock_races;
use crate::store::rows::{
    BATCH_ROWS, ImportPlan, LineRow, dedupe_in_order, plan_import, push_id_list,
};
use crate::store::{LineStore, LineWindow, StoreResult};

/// The columns every line query selects, in the order of [`LineRow`].
const SELECT_LINE: &str =
    "SELECT id, product_id, user_id, is_active, created_at FROM product_user_notification";

/// A member's row with its place among the line's active members.
#[derive(Debug, sqlx::FromRow)]
struct PlacedRow {
    #[sqlx(flatten)]
    line: LineRow,
    place: i64,
}

/// A user's row in a product's line, active or not.
async fn line_row(
    tx: &mut Transaction<'static, Db>,
    product: ProductId,
    user: UserId,
) -> StoreResult<Option<LineRow>> {
    let row = sqlx::query_as(AssertSqlSafe(format!(
        "{SELECT_LINE} WHERE product_id = ? AND user_id = ?"
    )))
    .bind(product.get())
    .bind(user.get())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row)
}

#[async_trait]
impl LineStore for SqlStore {
    async fn join_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(JoinOutcome, Subscription)> {
        lock_races("subscription", || async {
            let mut tx = self.write_tx().await?;
            if let Some(row) = line_row(&mut tx, product, user).await? {
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
            // Ignoring a taken key: a concurrent join of the same user that committed first wins
            // (where the transaction holds the whole database, nothing can have come first).
            let done = sqlx::query(AssertSqlSafe(format!(
                "{} INTO product_user_notification (product_id, user_id, is_active, created_at, \
                 updated_at) VALUES (?, ?, 1, ?, ?)",
                DIALECT.insert_ignore
            )))
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
            let row = line_row(&mut tx, product, user)
                .await?
                .ok_or(crate::store::StoreError::NotFound)?;
            tx.commit().await?;
            Ok((outcome, row.into()))
        })
        .await
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

    async fn line_place(
        &self,
        product: ProductId,
        user: UserId,
    ) -> StoreResult<Option<(Subscription, i64)>> {
        // One statement, so the row and its place come from one snapshot; the place is
        // counted on the line's index (product, active, id), as far as the user's id.
        let row: Option<PlacedRow> = sqlx::query_as(
            "SELECT n.id, n.product_id, n.user_id, n.is_active, n.created_at, \
             (SELECT COUNT(*) FROM product_user_notification c WHERE c.product_id = n.product_id \
             AND c.is_active = 1 AND c.id <= n.id) AS place \
             FROM product_user_notification n \
             WHERE n.product_id = ? AND n.user_id = ? AND n.is_active = 1",
        )
        .bind(product.get())
        .bind(user.get())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| (r.line.into(), r.place)))
    }

    async fn user_subscriptions(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Subscription>> {
        let sql = format!(
            "{SELECT_LINE} WHERE user_id = ? AND is_active = 1 AND id > ? ORDER BY id LIMIT ?"
        );
        let binds = [user.get(), page.after.unwrap_or(0), page.fetch()];
        self.rows::<LineRow, _>(AssertSqlSafe(sql), &binds).await
    }

    async fn import_line(
        &self,
        product: ProductId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> StoreResult<ImportOutcome> {
        lock_races("line import", || async {
            let (fresh, repeats) = dedupe_in_order(users);
            let mut outcome = ImportOutcome {
                imported: 0,
                already_active: repeats,
            };
            let mut tx = self.write_tx().await?;
            for chunk in fresh.chunks(BATCH_ROWS) {
                let mut q = QueryBuilder::new(SELECT_LINE);
                q.push(" WHERE product_id = ")
                    .push_bind(product.get())
                    .push(" AND user_id IN ");
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
        })
        .await
    }

    async fn line_page(&self, product: ProductId, w: LineWindow) -> StoreResult<Vec<Subscription>> {
        let binds = [product.get(), w.after, w.upto, w.limit];
        self.rows::<LineRow, _>(LINE_PAGE_SQL, &binds).await
    }
}
