//! Draw entries, the draw's reads and its winners' notices. The draw itself and the waitlist
//! are in `drawing.rs`, entering in `entering.rs` (a batch a transaction) and
//! `one_entry.rs` (the terms, and the one-by-one path).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

mod drawing;
mod entering;
mod one_entry;

use super::SqlStore;
use crate::domain::clock::from_millis;
use crate::domain::draws::{DrawOutcome, DrawRecord, Entry, EntryOutcome, SaleMode, Win};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::store::draws::{DrawStore, ENTRY_COLUMNS, Entering, EntryCursor, EntryRow, WinRow};
use crate::store::retry::lock_races;
use crate::store::{StoreError, StoreResult};

/// Runs a read of product ids whose placeholders are all integers, bound in order.
async fn product_ids(
    store: &SqlStore,
    sql: &'static str,
    binds: &[i64],
) -> StoreResult<Vec<ProductId>> {
    let mut q = sqlx::query_scalar::<_, i64>(sql);
    for b in binds {
        q = q.bind(*b);
    }
    let ids = q.fetch_all(store.pool()).await?;
    Ok(ids.into_iter().map(ProductId::from_db).collect())
}

/// Entries with their ranks, `rest` naming `draw_entry e` and `draw_rank r`.
pub(super) fn entry_select(rest: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM draw_entry e LEFT JOIN draw_rank r \
         ON r.product_id = e.product_id AND r.user_id = e.user_id {rest}"
    ))
}

/// The ranked entries of a drawn product, in list order, `rest` naming both tables.
fn ranked_select(rest: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM draw_rank r JOIN draw_entry e \
         ON e.product_id = r.product_id AND e.user_id = r.user_id {rest}"
    ))
}

#[async_trait]
impl DrawStore for SqlStore {
    async fn enter(&self, entering: Entering) -> StoreResult<(EntryOutcome, Entry)> {
        self.enter_queued(entering).await
    }

    async fn withdraw(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        lock_races("draw withdrawal", || async {
            let now_ms = now.timestamp_millis();
            let _turn = self.order_turn().await;
            let mut tx = self.write_tx().await?;
            let terms = self.entry_terms(&mut tx, product).await?;
            terms.check(now_ms, false)?;
            sqlx::query(
                "UPDATE draw_entry SET status = 'WITHDRAWN', updated_at = ? \
                 WHERE product_id = ? AND user_id = ? AND status = 'ENTERED'",
            )
            .bind(now_ms)
            .bind(product.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn user_entries(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Entry>> {
        let rows: Vec<EntryRow> = sqlx::query_as(entry_select(
            "WHERE e.user_id = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?",
        ))
        .bind(user.get())
        .bind(page.after.unwrap_or(i64::MAX))
        .bind(page.fetch())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.entry(EntryCursor::Id)).collect())
    }

    async fn draw_record(&self, product: ProductId) -> StoreResult<Option<DrawRecord>> {
        type Row = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT sale_mode, sale_ends_at, draw_seed, draw_seed_hash, drawn_at, \
             entries_digest, draw_entries, draw_units FROM product WHERE id = ?",
        )
        .bind(product.get())
        .fetch_optional(self.pool())
        .await?;
        let Some((mode, ends_at, seed, seed_hash, drawn_at, digest, drawn_entries, units)) = row
        else {
            return Err(StoreError::NotFound);
        };
        if SaleMode::from_db(&mode) != SaleMode::Draw {
            return Ok(None);
        }
        let entries = match drawn_entries {
            Some(n) => n,
            None => sqlx::query_scalar(
                "SELECT COUNT(*) FROM draw_entry WHERE product_id = ? AND status <> 'WITHDRAWN'",
            )
            .bind(product.get())
            .fetch_one(self.pool())
            .await?,
        };
        Ok(Some(DrawRecord {
            product_id: product,
            ends_at: ends_at.map(from_millis),
            seed,
            seed_hash,
            drawn_at: drawn_at.map(from_millis),
            entries,
            entries_digest: digest,
            units,
        }))
    }

    async fn draw_entries(
        &self,
        product: ProductId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Entry>> {
        let drawn: Option<Option<i64>> =
            sqlx::query_scalar("SELECT drawn_at FROM product WHERE id = ?")
                .bind(product.get())
                .fetch_optional(self.pool())
                .await?;
        let (sql, by) = match drawn {
            None => return Err(StoreError::NotFound),
            Some(Some(_)) => (
                ranked_select(
                    "WHERE r.product_id = ? AND r.list_pos > ? ORDER BY r.list_pos LIMIT ?",
                ),
                EntryCursor::Listed,
            ),
            Some(None) => (
                entry_select("WHERE e.product_id = ? AND e.user_id > ? ORDER BY e.user_id LIMIT ?"),
                EntryCursor::User,
            ),
        };
        let rows: Vec<EntryRow> = sqlx::query_as(sql)
            .bind(product.get())
            .bind(page.after.unwrap_or(0))
            .bind(page.fetch())
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(|r| r.entry(by)).collect())
    }

    async fn due_draws(&self, now: DateTime<Utc>) -> StoreResult<Vec<ProductId>> {
        let sql = "SELECT id FROM product WHERE sale_mode = 'draw' AND drawn_at IS NULL \
             AND sale_ends_at <= ? ORDER BY id LIMIT 100";
        product_ids(self, sql, &[now.timestamp_millis()]).await
    }

    async fn run_draw(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<Option<DrawOutcome>> {
        let _turn = self.order_turn().await;
        drawing::run_draw(self, product, now, notify_lease).await
    }

    async fn waitlists_to_offer(&self) -> StoreResult<Vec<ProductId>> {
        let sql = "SELECT id FROM product WHERE sale_mode = 'draw' AND drawn_at IS NOT NULL \
             AND stock > 0 AND (waitlist_version IS NULL OR waitlist_version <> stock_version) \
             ORDER BY id LIMIT 100";
        product_ids(self, sql, &[]).await
    }

    async fn promote_waitlist(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<DrawOutcome> {
        let _turn = self.order_turn().await;
        drawing::promote(self, product, now, notify_lease).await
    }

    async fn unnotified_wins(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Win>> {
        let rows: Vec<WinRow> = sqlx::query_as(
            "SELECT e.product_id, e.user_id, e.order_id, e.quantity, o.expires_at, r.list_pos \
             FROM product p JOIN draw_entry e ON e.product_id = p.id \
             AND e.order_id IS NOT NULL AND e.status = 'WON' \
             JOIN orders o ON o.id = e.order_id \
             JOIN draw_rank r ON r.product_id = e.product_id AND r.user_id = e.user_id \
             WHERE p.sale_mode = 'draw' AND p.drawn_at IS NOT NULL AND e.notified_at IS NULL \
             AND (e.notify_lease IS NULL OR e.notify_lease < ?) \
             ORDER BY e.product_id, r.list_pos LIMIT ?",
        )
        .bind(now.timestamp_millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Win::from).collect())
    }

    async fn claim_win_notice(
        &self,
        win: &Win,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE draw_entry SET notify_lease = ? WHERE product_id = ? AND user_id = ? \
             AND notified_at IS NULL AND (notify_lease IS NULL OR notify_lease < ?)",
        )
        .bind(until.timestamp_millis())
        .bind(win.product_id.get())
        .bind(win.user_id.get())
        .bind(now.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn win_notified(&self, win: &Win, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE draw_entry SET notified_at = ?, notify_lease = NULL \
             WHERE product_id = ? AND user_id = ?",
        )
        .bind(now.timestamp_millis())
        .bind(win.product_id.get())
        .bind(win.user_id.get())
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
