//! Group commit for order placement on MySQL / MariaDB. Orders of one product queue behind
//! its row lock anyway; here they queue in memory instead, and a writer places a whole batch
//! under one `SELECT … FOR UPDATE` of its products and one commit (one log flush), deciding
//! every order in arrival order in memory (`batch_ledger`, as on SQLite). Products are spread
//! over a few writer lanes so that a hot product does not hold up the others. Several
//! instances each batch their own orders; the product row lock orders their batches.

use chrono::{DateTime, Utc};
use sqlx::{MySql, MySqlPool, QueryBuilder, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::domain::order::{Order, OrderRequest, Placement};
use crate::store::batch_ledger::{
    self, Decision, KeyedRow, Ledger, NewOrder, Placing, ProductStock,
};
use crate::store::orders::{OrderRow, is_unique_violation, order_select};
use crate::store::retry;
use crate::store::rows::push_id_list;
use crate::store::{StoreError, StoreResult};

/// Most orders in one transaction (8 bound values each in the one INSERT).
const MAX_BATCH: usize = 256;

/// Writer lanes; a product always goes to the same lane, so its orders stay in arrival order.
const LANES: i64 = 8;

/// The writers' queues. Each writer task owns its batch from the moment an order is queued:
/// a caller that stops waiting changes nothing about whether its order is placed.
#[derive(Debug, Clone)]
pub(super) struct Placements {
    lanes: Arc<[mpsc::Sender<Placing>]>,
}

impl Placements {
    /// Starts the writers on `tasks`; each ends when every clone of this handle is gone.
    pub(super) fn spawn(tasks: &TaskTracker, pool: &MySqlPool) -> Self {
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
                tasks.spawn(run(pool.clone(), rx));
                tx
            })
            .collect();
        Self { lanes }
    }

    /// Queues an order on its product's lane and answers once its batch committed.
    pub(super) async fn place(
        &self,
        req: &OrderRequest,
        now: DateTime<Utc>,
    ) -> StoreResult<Placement> {
        let lane = req.product_id.get().rem_euclid(LANES) as usize;
        let (reply, answer) = oneshot::channel();
        let placing = Placing {
            req: req.clone(),
            now,
            reply,
        };
        let gone = || StoreError::Database(sqlx::Error::PoolClosed);
        self.lanes[lane].send(placing).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(pool: MySqlPool, mut rx: mpsc::Receiver<Placing>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let placed = place_with_retries(&pool, &batch).await;
        batch_ledger::answer_all(&mut batch, placed);
    }
}

/// Places the batch, again from the start (up to `retry::ATTEMPTS` tries, with the same
/// jittered waits as every other transaction) when it lost a race that a fresh read resolves.
async fn place_with_retries(
    pool: &MySqlPool,
    batch: &[Placing],
) -> StoreResult<Vec<StoreResult<Placement>>> {
    retry::again("order batch", worth_retrying, || place_batch(pool, batch)).await
}

/// A lost lock race (deadlock 1213, lock wait timeout 1205), or a key inserted meanwhile by a
/// batch of another product: the next try reads the winner's rows and decides against them.
fn worth_retrying(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(d) if retry::lost_lock_race(d) || is_unique_violation(d))
}

type Tx = Transaction<'static, MySql>;

/// A product's row as the batch locks it.
#[derive(sqlx::FromRow)]
struct LockedProduct {
    #[sqlx(flatten)]
    stock: ProductStock,
    stock_version: i64,
}

/// Places every order of the batch in one transaction; a database error rolls it all back.
async fn place_batch(
    pool: &MySqlPool,
    batch: &[Placing],
) -> StoreResult<Vec<StoreResult<Placement>>> {
    let reqs: Vec<&OrderRequest> = batch.iter().map(|p| &p.req).collect();
    let mut tx = pool.begin().await?;
    let (mut ledger, mut versions) = read_ledger(&mut tx, &reqs).await?;
    let decisions: Vec<Decision> = (0..batch.len())
        .map(|i| ledger.decide(&reqs, i, batch[i].now.timestamp_millis()))
        .collect();
    let taken: BTreeMap<i64, i64> = ledger.taken.iter().map(|(p, u)| (*p, *u)).collect();
    for (product, units) in &taken {
        let done = sqlx::query(
            "UPDATE product SET stock = stock - ?, stock_version = stock_version + 1 \
             WHERE id = ? AND stock >= ?",
        )
        .bind(units)
        .bind(product)
        .bind(units)
        .execute(&mut *tx)
        .await?;
        // The ledger read the stock under this row's lock, so this always matches (sqlx
        // counts matched rows, and a match always changes the row: units >= 1).
        if done.rows_affected() != 1 {
            return Err(StoreError::Internal("stock changed under the row lock"));
        }
        if let Some(v) = versions.get_mut(product) {
            *v += 1;
        }
    }
    let rows = insert_all(&mut tx, batch, &ledger.fresh, &taken).await?;
    // The new buyers leave those products' lines, one statement per product.
    for mut q in batch_ledger::leave_line_queries(batch, &ledger.fresh, "is_active = 1") {
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(batch_ledger::answers(decisions, &rows, &versions))
}

/// Locks the batch's products (in id order, as every order change does), then reads what
/// its buyers already hold and the keys they used before; answers the ledger and each
/// product's stock version. The reads run after the lock, so they see every order of these
/// products committed before it (InnoDB takes the read view at the first plain read).
async fn read_ledger(
    tx: &mut Tx,
    reqs: &[&OrderRequest],
) -> Result<(Ledger, BTreeMap<i64, i64>), sqlx::Error> {
    let mut ledger = Ledger::default();
    let mut products: Vec<i64> = reqs.iter().map(|r| r.product_id.get()).collect();
    products.sort_unstable();
    products.dedup();
    let mut q = QueryBuilder::new(
        "SELECT id, stock, sale_starts_at, sale_ends_at, per_user_limit, hold_seconds, \
         sale_mode, stock_version FROM product WHERE id IN ",
    );
    push_id_list(&mut q, products.iter().copied());
    q.push(" ORDER BY id FOR UPDATE");
    let locked: Vec<LockedProduct> = q.build_query_as().fetch_all(&mut **tx).await?;
    let versions = locked
        .iter()
        .map(|p| (p.stock.id, p.stock_version))
        .collect();
    ledger.products = locked.into_iter().map(|p| (p.stock.id, p.stock)).collect();
    let mut users: Vec<i64> = reqs.iter().map(|r| r.user_id.get()).collect();
    users.sort_unstable();
    users.dedup();
    // SUM of a BIGINT is DECIMAL on MySQL/MariaDB: cast it back to an integer. The IN lists
    // cross products with users; extra pairs are exact too, and the ledger ignores them.
    let mut q = QueryBuilder::new(
        "SELECT product_id, user_id, CAST(SUM(quantity) AS SIGNED) FROM orders \
         WHERE product_id IN ",
    );
    push_id_list(&mut q, ledger.products.keys().copied());
    q.push(" AND user_id IN ");
    push_id_list(&mut q, users.iter().copied());
    q.push(" AND status IN ('RESERVED', 'PAID') GROUP BY product_id, user_id");
    let held: Vec<(i64, i64, i64)> = if ledger.products.is_empty() {
        Vec::new()
    } else {
        q.build_query_as().fetch_all(&mut **tx).await?
    };
    for (product, user, units) in held {
        ledger.held.insert((product, user), units);
    }
    let keyed = batch_ledger::keyed(reqs);
    if let Some(mut q) = batch_ledger::keyed_orders_query(&keyed) {
        let known: Vec<KeyedRow> = q.build_query_as().fetch_all(&mut **tx).await?;
        batch_ledger::record_known(&mut ledger, &keyed, known);
    }
    Ok((ledger, versions))
}

/// Inserts the new orders in one statement; answers their rows in the order given.
async fn insert_all(
    tx: &mut Tx,
    batch: &[Placing],
    fresh: &[NewOrder],
    taken: &BTreeMap<i64, i64>,
) -> StoreResult<Vec<Order>> {
    if fresh.is_empty() {
        return Ok(Vec::new());
    }
    // One statement shape whatever the batch size: the rows travel as one JSON array.
    let rows: Vec<serde_json::Value> = fresh
        .iter()
        .map(|new| {
            let p = &batch[new.index];
            serde_json::json!([
                p.req.product_id.get(),
                p.req.user_id.get(),
                p.req.quantity.get(),
                p.req.idempotency_key.as_ref().map(|k| k.as_str()),
                p.now.timestamp_millis(),
                new.expires_at,
            ])
        })
        .collect();
    let first = sqlx::query(
        "INSERT INTO orders (product_id, user_id, quantity, status, idempotency_key, \
         created_at, expires_at, updated_at) \
         SELECT j.product_id, j.user_id, j.quantity, 'RESERVED', j.idempotency_key, j.now_ms, \
         j.expires_at, j.now_ms FROM JSON_TABLE(?, '$[*]' COLUMNS (ord FOR ORDINALITY, \
         product_id BIGINT PATH '$[0]', user_id BIGINT PATH '$[1]', quantity BIGINT PATH '$[2]', \
         idempotency_key VARCHAR(64) PATH '$[3]', now_ms BIGINT PATH '$[4]', \
         expires_at BIGINT PATH '$[5]')) AS j ORDER BY j.ord",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .execute(&mut **tx)
    .await?
    .last_insert_id() as i64;
    // The statement's rows took ascending ids from `first` in VALUES order; whether they are
    // consecutive depends on innodb_autoinc_lock_mode, so read them back. Orders of these
    // products are only ever inserted under their locks, held here, so every row of theirs
    // from `first` on is one of this batch.
    let mut q = QueryBuilder::new(order_select!("WHERE id >= "));
    q.push_bind(first).push(" AND product_id IN ");
    push_id_list(&mut q, taken.keys().copied());
    q.push(" ORDER BY id");
    let rows: Vec<OrderRow> = q.build_query_as().fetch_all(&mut **tx).await?;
    let matches = rows.len() == fresh.len()
        && rows.iter().zip(fresh).all(|(row, new)| {
            let req = &batch[new.index].req;
            row.product_id == req.product_id.get()
                && row.user_id == req.user_id.get()
                && row.quantity == req.quantity.get()
        });
    if !matches {
        return Err(StoreError::Internal(
            "the order batch read back rows it did not insert",
        ));
    }
    Ok(rows.into_iter().map(Order::from).collect())
}
