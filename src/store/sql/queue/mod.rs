//! The waiting room: joining and leaving, a member's place, the member list in the room's
//! order, and the admission step. Every change locks the product row first (on SQLite the
//! write transaction holds the database), so joins, admissions and product changes of one
//! room take turns across instances. Joins arriving together share one transaction
//! (`store::group_commit`): a burst costs one commit per batch, not one per join.

mod joins;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{DIALECT, Db, SqlStore, lock_product};
use crate::domain::clock::from_millis;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::PageRequest;
use crate::domain::queue::{
    Admitted, Member, MemberStatus, QueueCounts, RoomMark, Seat, admissions_allowed, sold_out,
};
use crate::store::queue::{Joining, MEMBER_COLUMNS, MEMBER_OF_USER_SQL, MemberRow, QueueStore};
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;
use crate::store::{StoreError, StoreResult};

type Tx = sqlx::Transaction<'static, Db>;

/// Most waiters one step admits in one room.
const ADMIT_BATCH: i64 = 1000;

/// Members strictly after the place `(lane, rank_key, id)` in the room's order: four binds.
const AFTER: &str = "(lane > ? OR (lane = ? AND (rank_key > ? OR (rank_key = ? AND id > ?))))";

/// Members strictly before the place `(lane, rank_key, id)`: four binds.
const BEFORE: &str = "(lane < ? OR (lane = ? AND (rank_key < ? OR (rank_key = ? AND id < ?))))";

/// Admissions still open at a time (one bind).
const OPEN: &str = "status = 'ADMITTED' AND admitted_until > ?";

/// Columns of the product row a room's writes read, locked.
type RoomRow = (i64, Option<i64>, i64, i64, i64, i64, Option<String>);
const ROOM: &str = "queue_enabled, sale_starts_at, stock, per_user_limit, queue_admit_seconds, \
     queue_admit_rate, queue_seed";

impl SqlStore {
    /// Admissions of `product` open at `at_ms`, read in `conn`.
    async fn open_admissions<'c, E>(&self, conn: E, product: i64, at_ms: i64) -> StoreResult<i64>
    where
        E: sqlx::Executor<'c, Database = Db>,
    {
        Ok(sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM queue_member WHERE product_id = ? AND {OPEN}"
        )))
        .bind(product)
        .bind(at_ms)
        .fetch_one(conn)
        .await?)
    }

    /// The member of `product` and `user`, read in `conn`.
    async fn member_in<'c, E>(
        &self,
        conn: E,
        product: i64,
        user: i64,
    ) -> StoreResult<Option<Member>>
    where
        E: sqlx::Executor<'c, Database = Db>,
    {
        let row: Option<MemberRow> = sqlx::query_as(MEMBER_OF_USER_SQL)
            .bind(product)
            .bind(user)
            .fetch_optional(conn)
            .await?;
        Ok(row.map(Member::from))
    }
}

#[async_trait]
impl QueueStore for SqlStore {
    async fn join_queue(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(bool, Member)> {
        let store = self.clone();
        let joining = Joining { product, user, now };
        self.join_writes()
            .submit(joining, move |batch| async move {
                store.join_batch(batch).await
            })
            .await
    }

    async fn leave_queue(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE queue_member SET status = 'LEFT', updated_at = ? \
             WHERE product_id = ? AND user_id = ? AND status IN ('WAITING', 'ADMITTED')",
        )
        .bind(now.timestamp_millis())
        .bind(product.get())
        .bind(user.get())
        .execute(self.pool())
        .await?;
        if done.rows_affected() > 0 {
            return Ok(true);
        }
        Ok(self.queue_member(product, user).await?.is_some())
    }

    async fn queue_member(&self, product: ProductId, user: UserId) -> StoreResult<Option<Member>> {
        self.member_in(self.pool(), product.get(), user.get()).await
    }

    async fn queue_ahead(&self, member: &Member, now: DateTime<Utc>) -> StoreResult<(i64, i64)> {
        let lane = i64::from(!member.early);
        let ahead: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM queue_member WHERE product_id = ? AND status = 'WAITING' AND {BEFORE}"
        )))
        .bind(member.product_id.get())
        .bind(lane)
        .bind(lane)
        .bind(&member.rank_key)
        .bind(&member.rank_key)
        .bind(member.id)
        .fetch_one(self.pool())
        .await?;
        let open = self
            .open_admissions(self.pool(), member.product_id.get(), now.timestamp_millis())
            .await?;
        Ok((ahead, open))
    }

    async fn queue_members(
        &self,
        product: ProductId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Member>> {
        let (lane, key, id) = match page.after {
            None => (-1, String::new(), 0),
            Some(after) => {
                let at: Option<(i64, String)> = sqlx::query_as(
                    "SELECT lane, rank_key FROM queue_member WHERE product_id = ? AND id = ?",
                )
                .bind(product.get())
                .bind(after)
                .fetch_optional(self.pool())
                .await?;
                let Some((lane, key)) = at else {
                    return Ok(Vec::new());
                };
                (lane, key, after)
            }
        };
        let rows: Vec<MemberRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {MEMBER_COLUMNS} FROM queue_member WHERE product_id = ? AND {AFTER} \
             ORDER BY lane, rank_key, id LIMIT ?"
        )))
        .bind(product.get())
        .bind(lane)
        .bind(lane)
        .bind(&key)
        .bind(&key)
        .bind(id)
        .bind(page.fetch())
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Member::from).collect())
    }

    async fn queue_counts(
        &self,
        product: ProductId,
        now: DateTime<Utc>,
    ) -> StoreResult<QueueCounts> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT CASE WHEN status = 'ADMITTED' AND admitted_until <= ? THEN 'EXPIRED' \
             ELSE status END AS state, COUNT(*) FROM queue_member WHERE product_id = ? \
             GROUP BY state",
        )
        .bind(now.timestamp_millis())
        .bind(product.get())
        .fetch_all(self.pool())
        .await?;
        let mut counts = QueueCounts::default();
        for (state, n) in rows {
            counts.add(MemberStatus::from_db(&state), n);
        }
        Ok(counts)
    }

    async fn admission_used(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE queue_member SET status = 'ORDERED', updated_at = ? \
             WHERE product_id = ? AND user_id = ? AND status = 'ADMITTED'",
        )
        .bind(now.timestamp_millis())
        .bind(product.get())
        .bind(user.get())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn queue_admissions_per_second(
        &self,
        product: ProductId,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(i64, i64)>> {
        Ok(sqlx::query_as(AssertSqlSafe(format!(
            "SELECT CAST((admitted_at - admitted_at % 1000) / 1000 AS {}) AS s, COUNT(*) \
             FROM queue_member WHERE product_id = ? AND admitted_at >= ? GROUP BY s ORDER BY s",
            DIALECT.integer
        )))
        .bind(product.get())
        .bind(since.timestamp_millis())
        .fetch_all(self.pool())
        .await?)
    }

    async fn queue_mark(&self, product: ProductId) -> StoreResult<RoomMark> {
        let (count, last): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(updated_at) FROM queue_member WHERE product_id = ?",
        )
        .bind(product.get())
        .fetch_one(self.pool())
        .await?;
        Ok((count, last.unwrap_or(0)))
    }

    async fn queue_room(&self, product: ProductId) -> StoreResult<Vec<Seat>> {
        let rows: Vec<(i64, String, Option<i64>)> = sqlx::query_as(
            "SELECT user_id, status, admitted_until FROM queue_member WHERE product_id = ? \
             ORDER BY lane, rank_key, id",
        )
        .bind(product.get())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(user, status, until)| Seat {
                user_id: UserId::from_db(user),
                status: MemberStatus::from_db(&status),
                admitted_until: until.map(from_millis),
            })
            .collect())
    }

    async fn live_queues(&self, now: DateTime<Utc>) -> StoreResult<Vec<ProductId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT p.id FROM product p WHERE p.queue_enabled = 1 AND p.sale_starts_at <= ? \
             AND (EXISTS (SELECT 1 FROM queue_member m WHERE m.product_id = p.id \
             AND m.status = 'WAITING') OR EXISTS (SELECT 1 FROM queue_member m \
             WHERE m.product_id = p.id AND m.status = 'ADMITTED')) ORDER BY p.id",
        )
        .bind(now.timestamp_millis())
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ProductId::from_db).collect())
    }

    async fn admit(&self, product: ProductId, now: DateTime<Utc>) -> StoreResult<Admitted> {
        lock_races("queue admission", || async {
            let mut tx = self.write_tx().await?;
            let Some(room) = lock_product::<RoomRow>(&mut tx, product, ROOM).await? else {
                return Err(StoreError::NotFound);
            };
            let (enabled, starts, stock, limit, seconds, rate, _) = room;
            let now_ms = now.timestamp_millis();
            let mut out = Admitted::default();
            if enabled == 0 || starts.is_none_or(|s| s > now_ms) {
                return Ok(out);
            }
            out.expired = sqlx::query(
                "UPDATE queue_member SET status = 'EXPIRED', updated_at = ? \
                 WHERE product_id = ? AND status = 'ADMITTED' AND admitted_until <= ?",
            )
            .bind(now_ms)
            .bind(product.get())
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let open = self
                .open_admissions(&mut *tx, product.get(), now_ms)
                .await?;
            if sold_out(stock, open) {
                out.sold_out = sqlx::query(
                    "UPDATE queue_member SET status = 'SOLD_OUT', updated_at = ? \
                     WHERE product_id = ? AND status = 'WAITING'",
                )
                .bind(now_ms)
                .bind(product.get())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                tx.commit().await?;
                return Ok(out);
            }
            let recent: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM queue_member WHERE product_id = ? AND admitted_at > ?",
            )
            .bind(product.get())
            .bind(now_ms - 1000)
            .fetch_one(&mut *tx)
            .await?;
            let n = admissions_allowed(stock, limit, open, recent, rate).min(ADMIT_BATCH);
            if n > 0 {
                let ids: Vec<i64> = sqlx::query_scalar(
                    "SELECT id FROM queue_member WHERE product_id = ? AND status = 'WAITING' \
                     ORDER BY lane, rank_key, id LIMIT ?",
                )
                .bind(product.get())
                .bind(n)
                .fetch_all(&mut *tx)
                .await?;
                if !ids.is_empty() {
                    let mut q = QueryBuilder::<Db>::new(
                        "UPDATE queue_member SET status = 'ADMITTED', admitted_at = ",
                    );
                    q.push_bind(now_ms)
                        .push(", admitted_until = ")
                        .push_bind(now_ms + seconds * 1000)
                        .push(", updated_at = ")
                        .push_bind(now_ms)
                        .push(" WHERE status = 'WAITING' AND id IN ");
                    push_id_list(&mut q, ids.iter().copied());
                    out.admitted = q.build().execute(&mut *tx).await?.rows_affected();
                }
            }
            tx.commit().await?;
            Ok(out)
        })
        .await
    }
}
