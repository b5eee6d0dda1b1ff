//! Draw entries, the draw's reads and its winners' notices. The draw itself and the waitlist
//! are in `draw_run.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::AssertSqlSafe;

use std::collections::HashMap;
use tokio::sync::oneshot;

use super::{DIALECT, SqlStore, draw_run, inserted_id};
use crate::domain::clock::from_millis;
use crate::domain::draw::{DrawOutcome, DrawRecord, Entry, EntryOutcome, SaleMode, Win, rank_key};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::Quantity;
use crate::domain::page::PageRequest;
use crate::domain::{Conflict, ValidationError};
use crate::store::draws::{DrawStore, ENTRY_COLUMNS, Entering, EntryCursor, EntryRow, WinRow};
use crate::store::orders::is_unique_violation;
use crate::store::{StoreError, StoreResult};

/// What an entry is checked against, read under a shared lock on the product row (the draw's
/// claim takes it exclusively, so no entry commits after the draw read the list).
#[derive(Debug, sqlx::FromRow)]
struct EntryTerms {
    sale_mode: String,
    sale_starts_at: Option<i64>,
    sale_ends_at: Option<i64>,
    per_user_limit: i64,
    draw_seed: Option<String>,
    drawn_at: Option<i64>,
}

impl EntryTerms {
    /// Refuses a change of entries at `now`: not a draw, or after the window (and before it,
    /// when `before_counts`).
    fn check(&self, now: i64, before_counts: bool) -> Result<(), Conflict> {
        if SaleMode::from_db(&self.sale_mode) != SaleMode::Draw {
            return Err(Conflict::NotADraw);
        }
        let before = self.sale_starts_at.is_some_and(|t| now < t);
        let after = self.sale_ends_at.is_none_or(|t| now >= t);
        if self.drawn_at.is_some() || after || (before_counts && before) {
            return Err(Conflict::EntryClosed);
        }
        Ok(())
    }
}

/// Entries with their ranks, `rest` naming `draw_entry e` and `draw_rank r`.
fn entry_select(rest: &str) -> AssertSqlSafe<String> {
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

impl SqlStore {
    async fn entry_terms(
        &self,
        tx: &mut sqlx::Transaction<'static, super::Db>,
        product: ProductId,
    ) -> StoreResult<EntryTerms> {
        let terms: Option<EntryTerms> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT sale_mode, sale_starts_at, sale_ends_at, per_user_limit, draw_seed, drawn_at \
             FROM product WHERE id = ?{}",
            DIALECT.lock_shared
        )))
        .bind(product.get())
        .fetch_optional(&mut **tx)
        .await?;
        terms.ok_or(StoreError::NotFound)
    }
}

/// Tells one entry's refusal (answered, the batch goes on) from a database failure (the
/// batch rolls back).
enum Step {
    Refused(StoreError),
    Failed(StoreError),
}

impl From<sqlx::Error> for Step {
    fn from(e: sqlx::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<StoreError> for Step {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound | StoreError::Invalid(_) | StoreError::Conflict(_) => {
                Self::Refused(e)
            }
            other => Self::Failed(other),
        }
    }
}

impl SqlStore {
    /// Enters (or replaces) one entry inside `tx`; `terms` caches each product's terms for
    /// the transaction.
    async fn enter_in(
        &self,
        tx: &mut sqlx::Transaction<'static, super::Db>,
        terms: &mut HashMap<ProductId, EntryTerms>,
        e: &Entering,
    ) -> Result<(EntryOutcome, Entry), Step> {
        let now_ms = e.now.timestamp_millis();
        let (product, user, quantity) = (e.product, e.user, e.quantity);
        if let std::collections::hash_map::Entry::Vacant(slot) = terms.entry(product) {
            slot.insert(self.entry_terms(tx, product).await?);
        }
        let Some(t) = terms.get(&product) else {
            return Err(Step::Refused(StoreError::NotFound));
        };
        t.check(now_ms, true).map_err(|c| Step::Refused(c.into()))?;
        if quantity.get() > t.per_user_limit {
            return Err(Step::Refused(
                ValidationError::new(
                    "quantity",
                    format!(
                        "must be between 1 and the per-user limit, {}",
                        t.per_user_limit
                    ),
                )
                .into(),
            ));
        }
        let before: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT id, status, created_at FROM draw_entry WHERE product_id = ? AND user_id = ?",
        )
        .bind(product.get())
        .bind(user.get())
        .fetch_optional(&mut **tx)
        .await?;
        let fresh = |id: i64, created_at: i64| EntryRow {
            id,
            product_id: product.get(),
            user_id: user.get(),
            quantity: quantity.get(),
            status: "ENTERED".into(),
            list_pos: None,
            order_id: None,
            created_at,
        };
        if let Some((id, status, created_at)) = before {
            sqlx::query(
                "UPDATE draw_entry SET quantity = ?, updated_at = ?, created_at = ?, \
                 status = 'ENTERED' WHERE id = ?",
            )
            .bind(quantity.get())
            .bind(now_ms)
            .bind(if status == "WITHDRAWN" {
                now_ms
            } else {
                created_at
            })
            .bind(id)
            .execute(&mut **tx)
            .await?;
            return Ok(if status == "WITHDRAWN" {
                (
                    EntryOutcome::Entered,
                    fresh(id, now_ms).entry(EntryCursor::Id),
                )
            } else {
                (
                    EntryOutcome::Replaced,
                    fresh(id, created_at).entry(EntryCursor::Id),
                )
            });
        }
        let seed = t.draw_seed.as_deref().unwrap_or_default();
        let done = sqlx::query(
            "INSERT INTO draw_entry (product_id, user_id, quantity, status, draw_key, \
             created_at, updated_at) VALUES (?, ?, ?, 'ENTERED', ?, ?, ?)",
        )
        .bind(product.get())
        .bind(user.get())
        .bind(quantity.get())
        .bind(rank_key(seed, user.get()))
        .bind(now_ms)
        .bind(now_ms)
        .execute(&mut **tx)
        .await;
        match done {
            Ok(done) => Ok((
                EntryOutcome::Entered,
                fresh(inserted_id(&done), now_ms).entry(EntryCursor::Id),
            )),
            // The same user's request on another instance inserted it first: replace it.
            Err(err) if is_unique_violation(&err) => {
                sqlx::query(
                    "UPDATE draw_entry SET quantity = ?, updated_at = ? \
                     WHERE product_id = ? AND user_id = ?",
                )
                .bind(quantity.get())
                .bind(now_ms)
                .bind(product.get())
                .bind(user.get())
                .execute(&mut **tx)
                .await?;
                let row: EntryRow =
                    sqlx::query_as(entry_select("WHERE e.product_id = ? AND e.user_id = ?"))
                        .bind(product.get())
                        .bind(user.get())
                        .fetch_one(&mut **tx)
                        .await?;
                Ok((EntryOutcome::Replaced, row.entry(EntryCursor::Id)))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Enters a batch in one transaction (SQLite's one writer), answering each entry.
    async fn enter_batch(&self, batch: Vec<Entering>) {
        let _turn = self.order_turn().await;
        let mut answers = Vec::with_capacity(batch.len());
        let done: Result<(), StoreError> = async {
            let mut tx = self.write_tx().await?;
            let mut terms = HashMap::new();
            for e in &batch {
                match self.enter_in(&mut tx, &mut terms, e).await {
                    Ok(entered) => answers.push(Ok(entered)),
                    Err(Step::Refused(why)) => answers.push(Err(why)),
                    Err(Step::Failed(why)) => return Err(why),
                }
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        match done {
            Ok(()) => {
                for (e, answer) in batch.into_iter().zip(answers) {
                    let _ = e.reply.send(answer);
                }
            }
            Err(why) => {
                tracing::error!(error = %why, entries = batch.len(), "entry batch rolled back");
                for e in batch {
                    let _ = e.reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                        "the entry batch was rolled back".into(),
                    ))));
                }
            }
        }
    }
}

#[async_trait]
impl DrawStore for SqlStore {
    async fn enter(
        &self,
        product: ProductId,
        user: UserId,
        quantity: Quantity,
        now: DateTime<Utc>,
    ) -> StoreResult<(EntryOutcome, Entry)> {
        let (reply, answer) = oneshot::channel();
        let entering = Entering {
            product,
            user,
            quantity,
            now,
            reply,
        };
        let Some(queue) = self.entry_queue() else {
            // With row locks, entries of one product run side by side in transactions of
            // their own (their shared lock on the product row does not block each other).
            let mut tx = self.write_tx().await?;
            let mut terms = HashMap::new();
            let entered = match self.enter_in(&mut tx, &mut terms, &entering).await {
                Ok(entered) => entered,
                Err(Step::Refused(e) | Step::Failed(e)) => return Err(e),
            };
            tx.commit().await?;
            return Ok(entered);
        };
        queue.push(entering);
        // Whoever takes the writer's turn writes every entry queued by then in one
        // transaction, on a task of its own (a caller that goes away cannot cut it short).
        let _turn = queue.turn().await;
        let batch = queue.drain();
        if !batch.is_empty() {
            let store = self.clone();
            let _ = tokio::spawn(async move { store.enter_batch(batch).await }).await;
        }
        answer.await.map_err(|_| {
            StoreError::Database(sqlx::Error::Protocol("the entry batch was lost".into()))
        })?
    }

    async fn withdraw(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
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
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT sale_mode, sale_ends_at, draw_seed, draw_seed_hash, drawn_at, \
             entries_digest, draw_entries FROM product WHERE id = ?",
        )
        .bind(product.get())
        .fetch_optional(self.pool())
        .await?;
        let Some((mode, ends_at, seed, seed_hash, drawn_at, digest, drawn_entries)) = row else {
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
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM product WHERE sale_mode = 'draw' AND drawn_at IS NULL \
             AND sale_ends_at <= ? ORDER BY id LIMIT 100",
        )
        .bind(now.timestamp_millis())
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ProductId::from_db).collect())
    }

    async fn run_draw(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<Option<DrawOutcome>> {
        let _turn = self.order_turn().await;
        draw_run::run_draw(self, product, now, notify_lease).await
    }

    async fn waitlists_to_offer(&self) -> StoreResult<Vec<ProductId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM product WHERE sale_mode = 'draw' AND drawn_at IS NOT NULL \
             AND stock > 0 AND (waitlist_version IS NULL OR waitlist_version <> stock_version) \
             ORDER BY id LIMIT 100",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ProductId::from_db).collect())
    }

    async fn promote_waitlist(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
        notify_lease: DateTime<Utc>,
    ) -> StoreResult<DrawOutcome> {
        let _turn = self.order_turn().await;
        draw_run::promote(self, product, now, notify_lease).await
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
