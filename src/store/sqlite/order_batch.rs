//! Group commit for order placement on SQLite. SQLite has one writer, so orders queue for
//! it anyway; this writer drains the queue and places a whole batch in one `BEGIN
//! IMMEDIATE` transaction and answers every order only after the commit. Each order is
//! one conditional UPDATE that checks and takes its stock, seeing the orders before it in
//! the batch; the new orders are inserted together and the buyers leave their lines together.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::domain::Conflict;
use crate::domain::order::{IdempotencyKey, Order, OrderRequest, Placement};
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

/// Rows per multi-row INSERT (8 values each, well under SQLite's bound-variable limit).
const INSERT_ROWS: usize = 128;

/// What the batch decided for one order before the new rows are written.
enum Decision {
    /// Refused, or replayed from an order committed earlier: final.
    Done(StoreResult<Placement>),
    /// Took its stock; its row is the `n`-th new row of the batch.
    Take(usize),
    /// A retry of the `n`-th new order of this batch, with the same body.
    Replay(usize),
}

/// The new orders of a batch, in order, and what they already hold.
#[derive(Default)]
struct Fresh<'a> {
    /// Each new order and its `expires_at` (epoch ms).
    orders: Vec<(&'a Placing, i64)>,
    /// Units taken in this batch per (product, user), for the per-user limit.
    held: HashMap<(i64, i64), i64>,
    /// New orders of this batch by (user, idempotency key).
    keys: HashMap<(i64, &'a str), usize>,
}

/// Places every order of the batch in one transaction. A refusal writes nothing, so it
/// needs no rollback; a database error rolls the whole batch back.
async fn place_batch(
    pool: &SqlitePool,
    batch: &[Placing],
) -> Result<Vec<StoreResult<Placement>>, sqlx::Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut fresh = Fresh::default();
    let mut decisions = Vec::with_capacity(batch.len());
    for p in batch {
        decisions.push(decide(&mut tx, p, &mut fresh).await?);
    }
    let rows = insert_all(&mut tx, &fresh.orders).await?;
    leave_lines(&mut tx, &fresh.orders).await?;
    tx.commit().await?;
    Ok(decisions
        .into_iter()
        .map(|d| match d {
            Decision::Done(answer) => answer,
            Decision::Take(n) => row(&rows, n).map(Placement::Created),
            Decision::Replay(n) => row(&rows, n).map(Placement::Existing),
        })
        .collect())
}

/// The `n`-th new row; the insert answers one row per new order, so it is always there.
fn row(rows: &[Order], n: usize) -> StoreResult<Order> {
    rows.get(n).cloned().ok_or_else(|| {
        StoreError::Database(sqlx::Error::Protocol(
            "the order batch insert returned too few rows".into(),
        ))
    })
}

/// Decides one order: replay a known key, or check and take its stock in one statement.
async fn decide<'a>(
    tx: &mut Tx,
    p: &'a Placing,
    fresh: &mut Fresh<'a>,
) -> Result<Decision, sqlx::Error> {
    let req = &p.req;
    let now_ms = p.now.timestamp_millis();
    if let Some(key) = &req.idempotency_key {
        if let Some(&n) = fresh.keys.get(&(req.user_id.get(), key.as_str())) {
            let first = &fresh.orders[n].0.req;
            return Ok(
                if first.product_id == req.product_id && first.quantity == req.quantity {
                    Decision::Replay(n)
                } else {
                    Decision::Done(Err(Conflict::IdempotencyKeyReused.into()))
                },
            );
        }
        let known: Option<OrderRow> =
            sqlx::query_as(order_select!("WHERE user_id = ? AND idempotency_key = ?"))
                .bind(req.user_id.get())
                .bind(key.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(row) = known {
            return Ok(Decision::Done(
                req.replay(row.into()).map_err(StoreError::from),
            ));
        }
    }
    let buyer = (req.product_id.get(), req.user_id.get());
    let held_here = fresh.held.get(&buyer).copied().unwrap_or(0);
    // The sale window, the per-user limit (committed orders plus this batch's) and the
    // stock, checked and taken in one step.
    let q = req.quantity.get();
    let hold: Option<i64> = sqlx::query_scalar(
        "UPDATE product SET stock = stock - ? WHERE id = ? AND stock >= ? \
         AND (sale_starts_at IS NULL OR sale_starts_at <= ?) \
         AND (sale_ends_at IS NULL OR sale_ends_at > ?) \
         AND per_user_limit >= ? + ? + (SELECT COALESCE(SUM(quantity), 0) FROM orders \
             WHERE product_id = ? AND user_id = ? AND status IN ('RESERVED', 'PAID')) \
         RETURNING hold_seconds",
    )
    .bind(q)
    .bind(req.product_id.get())
    .bind(q)
    .bind(now_ms)
    .bind(now_ms)
    .bind(q)
    .bind(held_here)
    .bind(req.product_id.get())
    .bind(req.user_id.get())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(hold_seconds) = hold else {
        return Ok(Decision::Done(Err(
            refusal(tx, req, now_ms, held_here).await?
        )));
    };
    let n = fresh.orders.len();
    fresh.orders.push((p, now_ms + hold_seconds * 1000));
    *fresh.held.entry(buyer).or_default() += q;
    if let Some(key) = &req.idempotency_key {
        fresh.keys.insert((req.user_id.get(), key.as_str()), n);
    }
    Ok(Decision::Take(n))
}

/// Inserts the new orders; answers their rows in the order given.
async fn insert_all(tx: &mut Tx, orders: &[(&Placing, i64)]) -> Result<Vec<Order>, sqlx::Error> {
    let mut out = Vec::with_capacity(orders.len());
    for chunk in orders.chunks(INSERT_ROWS) {
        let mut q = QueryBuilder::new(
            "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
             created_at, expires_at, updated_at) ",
        );
        q.push_values(chunk, |mut b, (p, expires_at)| {
            let now = p.now.timestamp_millis();
            b.push_bind(p.req.product_id.get())
                .push_bind(p.req.user_id.get())
                .push_bind(p.req.quantity.get())
                .push_bind("RESERVED")
                .push_bind(p.req.idempotency_key.as_ref().map(IdempotencyKey::as_str))
                .push_bind(now)
                .push_bind(*expires_at)
                .push_bind(now);
        });
        q.push(
            " RETURNING id, product_id, user_id, quantity, status, created_at, expires_at, \
             paid_at, payment_ref",
        );
        let mut rows: Vec<OrderRow> = q.build_query_as().fetch_all(&mut **tx).await?;
        // One statement's rows take ascending ids in VALUES order; RETURNING's order is not
        // promised, so sort them back.
        rows.sort_unstable_by_key(|r| r.id);
        out.extend(rows.into_iter().map(Order::from));
    }
    Ok(out)
}

/// The buyers of the new orders leave those products' lines, in one statement.
async fn leave_lines(tx: &mut Tx, orders: &[(&Placing, i64)]) -> Result<(), sqlx::Error> {
    let Some(now) = orders.iter().map(|(p, _)| p.now.timestamp_millis()).max() else {
        return Ok(());
    };
    let mut q = QueryBuilder::new("UPDATE product_user_notification SET is_active = 0, ");
    q.push("updated_at = ")
        .push_bind(now)
        .push(" WHERE is_active = 1 AND (product_id, user_id) IN (VALUES ");
    let mut pairs = q.separated(", ");
    for (p, _) in orders {
        pairs
            .push("(")
            .push_bind_unseparated(p.req.product_id.get())
            .push_unseparated(", ")
            .push_bind_unseparated(p.req.user_id.get())
            .push_unseparated(")");
    }
    q.push(")");
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// Why the combined check refused an order (read in the same transaction).
async fn refusal(
    tx: &mut Tx,
    req: &OrderRequest,
    now_ms: i64,
    held_here: i64,
) -> Result<StoreError, sqlx::Error> {
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
    Ok(match sale.check(now_ms, held + held_here, req.quantity) {
        Err(c) => c.into(),
        Ok(()) => Conflict::SoldOut.into(),
    })
}
