//! Group commit for order placement on SQLite. SQLite has one writer, so orders queue for
//! it anyway; this writer drains the queue and places a whole batch in one `BEGIN
//! IMMEDIATE` transaction, each order seeing the ones before it, and answers every order
//! only after the commit. One order costs two statements instead of a transaction.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::domain::order::{IdempotencyKey, OrderRequest, Placement};
use crate::store::orders::{OrderRow, SaleRow, order_select};
use crate::store::{StoreError, StoreResult};

/// Most orders in one transaction.
const MAX_BATCH: usize = 256;

/// One order waiting for the writer.
pub(super) struct Placing {
    pub req: OrderRequest,
    pub now: DateTime<Utc>,
    pub reply: oneshot::Sender<StoreResult<Placement>>,
}

/// Starts the writer; it ends when every sender (the store and its clones) is gone.
pub(super) fn spawn(pool: SqlitePool, writes: Arc<Mutex<()>>) -> mpsc::Sender<Placing> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tokio::spawn(run(pool, writes, rx));
    tx
}

async fn run(pool: SqlitePool, writes: Arc<Mutex<()>>, mut rx: mpsc::Receiver<Placing>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let placed = {
            // Pay, cancel and expiry take the same turn, so they never wait in SQLite's
            // busy handler behind a batch.
            let _turn = writes.lock().await;
            place_batch(&pool, &batch).await
        };
        match placed {
            Ok(answers) => {
                for (p, answer) in batch.drain(..).zip(answers) {
                    let _ = p.reply.send(answer);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, orders = batch.len(), "order batch rolled back");
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(StoreError::Database(sqlx::Error::Protocol(
                        "the order batch was rolled back".into(),
                    ))));
                }
            }
        }
    }
}

type Tx = Transaction<'static, Sqlite>;

/// Places every order of the batch in one transaction. A refusal writes nothing, so it
/// needs no rollback; a database error rolls the whole batch back.
async fn place_batch(
    pool: &SqlitePool,
    batch: &[Placing],
) -> Result<Vec<StoreResult<Placement>>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut answers = Vec::with_capacity(batch.len());
    let mut leavers = Vec::new();
    for p in batch {
        let answer = place_one(&mut tx, &p.req, p.now).await?;
        if let Ok(Placement::Created(_)) = &answer {
            leavers.push((&p.req, p.now.timestamp_millis()));
        }
        answers.push(answer);
    }
    if !leavers.is_empty() {
        // Buyers leave the product's line, all in one statement.
        let now = leavers.iter().map(|(_, t)| *t).max().unwrap_or_default();
        let mut q = QueryBuilder::new("UPDATE product_user_notification SET is_active = 0, ");
        q.push("updated_at = ")
            .push_bind(now)
            .push(" WHERE is_active = 1 AND (product_id, user_id) IN (VALUES ");
        let mut pairs = q.separated(", ");
        for (req, _) in &leavers {
            pairs
                .push("(")
                .push_bind_unseparated(req.product_id.get())
                .push_unseparated(", ")
                .push_bind_unseparated(req.user_id.get())
                .push_unseparated(")");
        }
        q.push(")");
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(answers)
}

/// One order inside the batch: the outer error is the database's, the inner the refusal.
async fn place_one(
    tx: &mut Tx,
    req: &OrderRequest,
    now: DateTime<Utc>,
) -> Result<StoreResult<Placement>, sqlx::Error> {
    let now_ms = now.timestamp_millis();
    if let Some(key) = &req.idempotency_key {
        let known: Option<OrderRow> =
            sqlx::query_as(order_select!("WHERE user_id = ? AND idempotency_key = ?"))
                .bind(req.user_id.get())
                .bind(key.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(row) = known {
            return Ok(req.replay(row.into()).map_err(StoreError::from));
        }
    }
    // The sale window, the per-user limit and the stock, checked and taken in one step.
    let q = req.quantity.get();
    let hold: Option<i64> = sqlx::query_scalar(
        "UPDATE product SET stock = stock - ? WHERE id = ? AND stock >= ? \
         AND (sale_starts_at IS NULL OR sale_starts_at <= ?) \
         AND (sale_ends_at IS NULL OR sale_ends_at > ?) \
         AND per_user_limit >= ? + (SELECT COALESCE(SUM(quantity), 0) FROM orders \
             WHERE product_id = ? AND user_id = ? AND status IN ('RESERVED', 'PAID')) \
         RETURNING hold_seconds",
    )
    .bind(q)
    .bind(req.product_id.get())
    .bind(q)
    .bind(now_ms)
    .bind(now_ms)
    .bind(q)
    .bind(req.product_id.get())
    .bind(req.user_id.get())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(hold_seconds) = hold else {
        return Ok(Err(refusal(tx, req, now_ms).await?));
    };
    let row: OrderRow = sqlx::query_as(
        "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
         created_at, expires_at, updated_at) VALUES (?, ?, ?, 'RESERVED', ?, ?, ?, ?) \
         RETURNING id, product_id, user_id, quantity, status, created_at, expires_at, \
         paid_at, payment_ref",
    )
    .bind(req.product_id.get())
    .bind(req.user_id.get())
    .bind(q)
    .bind(req.idempotency_key.as_ref().map(IdempotencyKey::as_str))
    .bind(now_ms)
    .bind(now_ms + hold_seconds * 1000)
    .bind(now_ms)
    .fetch_one(&mut **tx)
    .await?;
    Ok(Ok(Placement::Created(row.into())))
}

/// Why the combined check refused an order (read in the same transaction).
async fn refusal(tx: &mut Tx, req: &OrderRequest, now_ms: i64) -> Result<StoreError, sqlx::Error> {
    let sale: Option<SaleRow> = sqlx::query_as(
        "SELECT sale_starts_at, sale_ends_at, per_user_limit, hold_seconds \
         FROM product WHERE id = ?",
    )
    .bind(req.product_id.get())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(sale) = sale else {
        return Ok(StoreError::NotFound);
    };
    let held: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(quantity), 0) AS INTEGER) FROM orders \
         WHERE product_id = ? AND user_id = ? AND status IN ('RESERVED', 'PAID')",
    )
    .bind(req.product_id.get())
    .bind(req.user_id.get())
    .fetch_one(&mut **tx)
    .await?;
    Ok(match sale.check(now_ms, held, req.quantity) {
        Err(c) => c.into(),
        Ok(()) => crate::domain::Conflict::SoldOut.into(),
    })
}
