//! Group commit for order placement on SQLite. SQLite has one writer, so orders queue for
//! it anyway; this writer drains the queue and places a whole batch in one `BEGIN
//! IMMEDIATE` transaction and answers every order only after the commit. Holding the write
//! lock, the batch reads what it needs once, decides every order in arrival order in
//! memory (`batch_ledger`), then writes: one conditional stock update per product, the new
//! orders in multi-row INSERTs, and the buyers' departure from the lines.

use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc};
use tokio_util::task::TaskTracker;

use crate::domain::order::{Order, OrderRequest, Placement};
use crate::store::batch_ledger::{
    self, Decision, KeyedRow, Ledger, NewOrder, Placing, ProductStock,
};
use crate::store::orders::OrderRow;
use crate::store::{StoreError, StoreResult};

/// Most orders in one transaction.
const MAX_BATCH: usize = 256;

/// Starts the writer on `tasks`; it ends when every sender (the store and its clones) is gone.
pub(super) fn spawn(
    tasks: &TaskTracker,
    pool: SqlitePool,
    writes: Arc<Mutex<()>>,
) -> mpsc::Sender<Placing> {
    let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
    tasks.spawn(run(pool, writes, rx));
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
        batch_ledger::answer_all(&mut batch, placed);
    }
}

type Tx = Transaction<'static, Sqlite>;

/// Rows per multi-row INSERT (8 values each, well under SQLite's bound-variable limit).
const INSERT_ROWS: usize = 128;

/// Places every order of the batch in one transaction; a database error rolls it all back.
async fn place_batch(
    pool: &SqlitePool,
    batch: &[Placing],
) -> StoreResult<Vec<StoreResult<Placement>>> {
    let reqs: Vec<&OrderRequest> = batch.iter().map(|p| &p.req).collect();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut ledger = read_ledger(&mut tx, &reqs).await?;
    let decisions: Vec<Decision> = (0..batch.len())
        .map(|i| ledger.decide(&reqs, i, batch[i].now.timestamp_millis()))
        .collect();
    let mut versions: BTreeMap<i64, i64> = BTreeMap::new();
    for (product, units) in &ledger.taken {
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE product SET stock = stock - ?, stock_version = stock_version + 1 \
             WHERE id = ? AND stock >= ? RETURNING stock_version",
        )
        .bind(units)
        .bind(product)
        .bind(units)
        .fetch_optional(&mut *tx)
        .await?;
        // The ledger read the stock under this same write lock, so this always matches.
        let Some(version) = version else {
            return Err(StoreError::Internal("stock changed under the write lock"));
        };
        versions.insert(*product, version);
    }
    let rows = insert_all(&mut tx, batch, &ledger.fresh).await?;
    // The new buyers leave those products' lines, one statement per product.
    for mut q in batch_ledger::leave_line_queries(batch, &ledger.fresh, "+is_active = 1") {
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(batch_ledger::answers(decisions, &rows, &versions))
}

/// Reads the batch's products, what its buyers already hold and the keys they used before.
async fn read_ledger(tx: &mut Tx, reqs: &[&OrderRequest]) -> Result<Ledger, sqlx::Error> {
    let mut ledger = Ledger::default();
    let mut buyers: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in reqs {
        buyers
            .entry(r.product_id.get())
            .or_default()
            .push(r.user_id.get());
    }
    let mut q = QueryBuilder::new(
        "SELECT id, stock, sale_starts_at, sale_ends_at, per_user_limit, hold_seconds, sale_mode \
         FROM product WHERE id IN (",
    );
    let mut ids = q.separated(", ");
    for product in buyers.keys() {
        ids.push_bind(*product);
    }
    q.push(")");
    let products: Vec<ProductStock> = q.build_query_as().fetch_all(&mut **tx).await?;
    ledger.products = products.into_iter().map(|p| (p.id, p)).collect();
    for (product, users) in &buyers {
        let mut q = QueryBuilder::new(
            "SELECT user_id, CAST(SUM(quantity) AS INTEGER) FROM orders WHERE product_id = ",
        );
        q.push_bind(*product).push(" AND user_id IN (");
        let mut ids = q.separated(", ");
        for u in users {
            ids.push_bind(*u);
        }
        q.push(") AND status IN ('RESERVED', 'PAID') GROUP BY user_id");
        let held: Vec<(i64, i64)> = q.build_query_as().fetch_all(&mut **tx).await?;
        for (user, units) in held {
            ledger.held.insert((*product, user), units);
        }
    }
    let keyed = batch_ledger::keyed(reqs);
    if let Some(mut q) = batch_ledger::keyed_orders_query(&keyed) {
        let known: Vec<KeyedRow> = q.build_query_as().fetch_all(&mut **tx).await?;
        batch_ledger::record_known(&mut ledger, &keyed, known);
    }
    Ok(ledger)
}

/// Inserts the new orders; answers their rows in the order given.
async fn insert_all(
    tx: &mut Tx,
    batch: &[Placing],
    fresh: &[NewOrder],
) -> Result<Vec<Order>, sqlx::Error> {
    let mut out = Vec::with_capacity(fresh.len());
    for chunk in fresh.chunks(INSERT_ROWS) {
        let mut q = insert_query(batch, chunk);
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

/// The multi-row INSERT of the new orders `fresh` (rows of `batch`); the caller adds the
/// `RETURNING` clause.
fn insert_query(batch: &[Placing], fresh: &[NewOrder]) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::new(
        "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
         created_at, expires_at, updated_at) ",
    );
    q.push_values(fresh, |mut b, new| {
        let p = &batch[new.index];
        let now = p.now.timestamp_millis();
        b.push_bind(p.req.product_id.get())
            .push_bind(p.req.user_id.get())
            .push_bind(p.req.quantity.get())
            .push_bind("RESERVED")
            .push_bind(p.req.idempotency_key.as_ref().map(|k| k.as_str()))
            .push_bind(now)
            .push_bind(new.expires_at)
            .push_bind(now);
    });
    q
}
