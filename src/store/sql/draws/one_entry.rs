//! One draw entry at a time: the terms an entry is checked against, and the one-by-one
//! path (a replacement, a re-entry after withdrawing, an entry another writer inserted
//! first) that a batch takes for what its multi-row INSERT cannot write.

use sqlx::AssertSqlSafe;
use std::collections::HashMap;

use super::super::{DIALECT, SqlStore, inserted_id};
use super::entry_select;
use crate::domain::draws::{Entry, EntryOutcome, SaleMode, rank_key};
use crate::domain::ids::ProductId;
use crate::domain::{Conflict, ValidationError};
use crate::store::draws::{Entering, EntryCursor, EntryRow};
use crate::store::orders::is_unique_violation;
use crate::store::{StoreError, StoreResult};

pub(super) type Tx = sqlx::Transaction<'static, super::super::Db>;

/// What an entry is checked against, read under a shared lock on the product row (the draw's
/// claim takes it exclusively, so no entry commits after the draw read the list).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct EntryTerms {
    sale_mode: String,
    sale_starts_at: Option<i64>,
    sale_ends_at: Option<i64>,
    per_user_limit: i64,
    pub(super) draw_seed: Option<String>,
    drawn_at: Option<i64>,
}

impl EntryTerms {
    /// Refuses a change of entries at `now`: not a draw, or after the window (and before it,
    /// when `before_counts`).
    pub(super) fn check(&self, now: i64, before_counts: bool) -> Result<(), Conflict> {
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

impl SqlStore {
    pub(super) async fn entry_terms(
        &self,
        tx: &mut Tx,
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
pub(super) enum Step {
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
    pub(super) async fn enter_in(
        &self,
        tx: &mut Tx,
        terms: &mut HashMap<ProductId, EntryTerms>,
        e: &Entering,
    ) -> Result<(EntryOutcome, Entry), Step> {
        let now_ms = e.now.timestamp_millis();
        let (product, user, quantity) = (e.product, e.user, e.quantity);
        self.allowed(tx, terms, e).await?;
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
        let seed = terms
            .get(&product)
            .and_then(|t| t.draw_seed.as_deref())
            .unwrap_or_default();
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

    /// Checks one entry against its product's terms (read once a product for the batch).
    pub(super) async fn allowed(
        &self,
        tx: &mut Tx,
        terms: &mut HashMap<ProductId, EntryTerms>,
        e: &Entering,
    ) -> Result<(), Step> {
        if let std::collections::hash_map::Entry::Vacant(slot) = terms.entry(e.product) {
            slot.insert(self.entry_terms(tx, e.product).await?);
        }
        let Some(t) = terms.get(&e.product) else {
            return Err(Step::Refused(StoreError::NotFound));
        };
        t.check(e.now.timestamp_millis(), true)
            .map_err(|c| Step::Refused(c.into()))?;
        if e.quantity.get() > t.per_user_limit {
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
        Ok(())
    }
}
