//! Claims: made by a claim round's runner, used by the holder's order, expired by the
//! sweeper, released when the holder leaves the line. Every change that moves a unit locks
//! the product's row first (the lock order of every order writer) and moves the product's
//! free stock and stock version in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Transaction};
use std::collections::BTreeMap;

use super::{DIALECT, Db, SqlStore, add_stock, inserted_id, lock_product, return_units};
use crate::domain::claim::{Claim, ClaimCounts, ClaimStatus};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::{OrderRequest, Placement, Returned};
use crate::domain::page::PageRequest;
use crate::domain::round::Lease;
use crate::store::claims::{CLAIM_COLUMNS, ClaimFor, ClaimRow, ClaimStore, ClaimsExpired, Made};
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;
use crate::store::{StoreError, StoreResult};

type Tx = Transaction<'static, Db>;

/// Locks the product's row (or, on SQLite, holds the database's write lock already) and
/// reads its free stock; None for an unknown product.
async fn lock_stock(tx: &mut Tx, product: ProductId) -> StoreResult<Option<i64>> {
    let row: Option<(i64,)> = lock_product(tx, product, "stock").await?;
    Ok(row.map(|(stock,)| stock))
}

async fn claim_by_id(tx: &mut Tx, id: i64) -> StoreResult<Claim> {
    let row: ClaimRow = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {CLAIM_COLUMNS} FROM claim WHERE id = ?"
    )))
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.into())
}

#[async_trait]
impl ClaimStore for SqlStore {
    async fn make_claim(
        &self,
        member: ClaimFor,
        lease: &Lease,
        now: DateTime<Utc>,
    ) -> StoreResult<Made> {
        lock_races("claim", || async {
            let (product, round) = (member.product, member.round);
            let mut tx = self.write_tx().await?;
            let Some(stock) = lock_stock(&mut tx, product).await? else {
                return Err(StoreError::NotFound);
            };
            let held: Option<(i64, i64)> = sqlx::query_as(
                "SELECT claim_seconds, notified_count FROM product_notification_history \
                 WHERE product_id = ? AND round = ? AND status = 'IN_PROGRESS' AND lease_owner = ?",
            )
            .bind(product.get())
            .bind(round)
            .bind(&lease.owner)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((claim_seconds, made)) = held else {
                return Ok(Made::NotHeld);
            };
            let already: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM claim WHERE product_id = ? AND round = ? AND user_id = ?",
            )
            .bind(product.get())
            .bind(round)
            .bind(member.user.get())
            .fetch_optional(&mut *tx)
            .await?;
            if already.is_some() {
                return Ok(Made::Already);
            }
            if stock < 1 {
                return Ok(Made::NoStock);
            }
            let ms = now.timestamp_millis();
            let done = sqlx::query(
                "INSERT INTO claim (product_id, round, user_id, position, line_id, status, \
                 created_at, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, 'OPEN', ?, ?, ?)",
            )
            .bind(product.get())
            .bind(round)
            .bind(member.user.get())
            .bind(made + 1)
            .bind(member.line_id)
            .bind(ms)
            .bind(ms + claim_seconds * 1000)
            .bind(ms)
            .execute(&mut *tx)
            .await?;
            let id = inserted_id(&done);
            let version = add_stock(&mut tx, product.get(), -1).await?;
            sqlx::query(
                "UPDATE product_notification_history SET notified_count = notified_count + 1, \
                 line_cursor = ?, wrapped = ?, last_sent_user_id = ?, lease_expires_at = ?, \
                 updated_at = ? WHERE product_id = ? AND round = ?",
            )
            .bind(member.line_id)
            .bind(i64::from(member.wrapped))
            .bind(member.user.get())
            .bind(lease.expires_at.timestamp_millis())
            .bind(ms)
            .bind(product.get())
            .bind(round)
            .execute(&mut *tx)
            .await?;
            let claim = claim_by_id(&mut tx, id).await?;
            tx.commit().await?;
            Ok(Made::Claimed(claim, version))
        })
        .await
    }

    async fn claim_notified(&self, claim: &Claim, sent_at: DateTime<Utc>) -> StoreResult<()> {
        lock_races("claim notice", || async {
            let mut tx = self.write_tx().await?;
            sqlx::query("UPDATE claim SET notified_at = ? WHERE id = ? AND notified_at IS NULL")
                .bind(sent_at.timestamp_millis())
                .bind(claim.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(AssertSqlSafe(format!(
                "{} INTO product_user_notification_history \
                 (product_id, round, user_id, position, line_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)",
                DIALECT.insert_ignore
            )))
            .bind(claim.product_id.get())
            .bind(claim.round)
            .bind(claim.holder.user_id.get())
            .bind(claim.holder.position)
            .bind(claim.holder.line_id)
            .bind(sent_at.timestamp_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn unsent_claims(&self, product: ProductId, round: i64) -> StoreResult<Vec<Claim>> {
        let sql = format!(
            "SELECT {CLAIM_COLUMNS} FROM claim WHERE product_id = ? AND round = ? \
             AND status = 'OPEN' AND notified_at IS NULL ORDER BY id"
        );
        self.rows::<ClaimRow, _>(AssertSqlSafe(sql), &[product.get(), round])
            .await
    }

    async fn claims_now(
        &self,
        product: ProductId,
        round: i64,
    ) -> StoreResult<(ClaimCounts, Option<DateTime<Utc>>)> {
        let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(
            "SELECT status, COUNT(*), MIN(expires_at) FROM claim \
             WHERE product_id = ? AND round = ? GROUP BY status",
        )
        .bind(product.get())
        .bind(round)
        .fetch_all(self.pool())
        .await?;
        let mut counts = ClaimCounts::default();
        let mut next = None;
        for (status, n, earliest) in rows {
            match ClaimStatus::from_db(&status) {
                ClaimStatus::Open => {
                    counts.open = n;
                    next = earliest.map(crate::domain::clock::from_millis);
                }
                ClaimStatus::Used => counts.used = n,
                ClaimStatus::Expired => counts.expired = n,
                ClaimStatus::Released => counts.released = n,
            }
        }
        Ok((counts, next))
    }

    async fn expire_claims(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<ClaimsExpired> {
        lock_races("claim expiry", || async {
            let now_ms = now.timestamp_millis();
            // A plain read finds the due claims (on `claims_due`); the transaction then locks
            // their products' rows first, as every writer that moves units does, and expires
            // those still open.
            let sql = "SELECT id, product_id FROM claim WHERE status = 'OPEN' \
                 AND expires_at <= ? ORDER BY expires_at LIMIT ?";
            let due: Vec<(i64, i64)> = self.rows::<(i64, i64), _>(sql, &[now_ms, limit]).await?;
            if due.is_empty() {
                return Ok(ClaimsExpired::default());
            }
            let mut by_product: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for (id, product) in due {
                by_product.entry(product).or_default().push(id);
            }
            let mut tx = self.write_tx().await?;
            let mut units = BTreeMap::new();
            let mut claims = 0;
            for (product, ids) in by_product {
                lock_stock(&mut tx, ProductId::from_db(product)).await?;
                // By key: on `claims_due` (which the conditions also match) each batch would
                // walk every due claim left, so a backlog took time quadratic in its size.
                let mut q = QueryBuilder::new(format!(
                    "UPDATE claim{} SET status = 'EXPIRED', updated_at = ",
                    DIALECT.by_key
                ));
                q.push_bind(now_ms).push(" WHERE id IN ");
                push_id_list(&mut q, ids);
                q.push(" AND status = 'OPEN' AND expires_at <= ")
                    .push_bind(now_ms);
                let n = q
                    .build()
                    .persistent(false)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                if n > 0 {
                    units.insert(product, n);
                    claims += n as usize;
                }
            }
            let returned = return_units(&mut tx, units).await?;
            tx.commit().await?;
            Ok(ClaimsExpired { claims, returned })
        })
        .await
    }

    async fn release_claims(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Returned>> {
        lock_races("claim release", || async {
            // The usual leave holds no claim: a plain read, and no lock.
            if self.open_claim_of(product, user).await?.is_none() {
                return Ok(None);
            }
            let mut tx = self.write_tx().await?;
            if lock_stock(&mut tx, product).await?.is_none() {
                return Ok(None);
            }
            let n = sqlx::query(
                "UPDATE claim SET status = 'RELEASED', updated_at = ? \
                 WHERE product_id = ? AND user_id = ? AND status = 'OPEN'",
            )
            .bind(now.timestamp_millis())
            .bind(product.get())
            .bind(user.get())
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
            if n == 0 {
                tx.rollback().await?;
                return Ok(None);
            }
            let returned = return_units(&mut tx, BTreeMap::from([(product.get(), n)])).await?;
            tx.commit().await?;
            Ok(returned.into_iter().next())
        })
        .await
    }

    async fn open_claim_of(&self, product: ProductId, user: UserId) -> StoreResult<Option<Claim>> {
        let row: Option<ClaimRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {CLAIM_COLUMNS} FROM claim \
             WHERE product_id = ? AND user_id = ? AND status = 'OPEN' ORDER BY id LIMIT 1"
        )))
        .bind(product.get())
        .bind(user.get())
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(Claim::from))
    }

    async fn place_claimed_order(
        &self,
        req: &OrderRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Placement>> {
        super::claim_order::place(self, req, now).await
    }

    async fn round_claims(
        &self,
        product: ProductId,
        round: i64,
        page: &PageRequest,
    ) -> StoreResult<Vec<Claim>> {
        let sql = format!(
            "SELECT {CLAIM_COLUMNS} FROM claim WHERE product_id = ? AND round = ? AND id > ? \
             ORDER BY id LIMIT ?"
        );
        let binds = [product.get(), round, page.after.unwrap_or(0), page.fetch()];
        self.rows::<ClaimRow, _>(AssertSqlSafe(sql), &binds).await
    }

    async fn user_claims(&self, user: UserId, page: &PageRequest) -> StoreResult<Vec<Claim>> {
        let sql = format!(
            "SELECT {CLAIM_COLUMNS} FROM claim WHERE user_id = ? AND id < ? \
             ORDER BY id DESC LIMIT ?"
        );
        let binds = [user.get(), page.after.unwrap_or(i64::MAX), page.fetch()];
        self.rows::<ClaimRow, _>(AssertSqlSafe(sql), &binds).await
    }
}
