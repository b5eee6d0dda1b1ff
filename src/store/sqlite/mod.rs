//! The embedded backend: one SQLite file in WAL mode. Writers take the lock up front
//! (`BEGIN IMMEDIATE`) because SQLite has no row locks.

mod order_batch;
mod order_expiry;
// The shared store code, compiled here against this backend's types (`Db`, `SqlStore`,
// `DIALECT`); `mysql` compiles the same files against its own.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{MutexGuard, oneshot};
use tokio_util::task::TaskTracker;

use super::dialect::Dialect;
use super::{StoreError, StoreResult};
use crate::domain::order::{OrderRequest, Placement};
use crate::store::draws::EntryQueue;
use order_expiry::add_stock;
pub use sql::HOT_QUERIES;

/// The database type the shared store code (`store/sql`) runs on here.
type Db = Sqlite;
/// The store the shared store code implements the storage traits for here.
type SqlStore = SqliteStore;

/// The dialect the shared store code is compiled against here.
const DIALECT: Dialect = Dialect::SQLITE;

/// Reads the line in order: the hottest query of a round. `INDEXED BY` pins the plan: with a
/// wide id range the planner would otherwise walk the rowid and filter every product's rows.
const LINE_PAGE_SQL: &str = "SELECT id, product_id, user_id, is_active, created_at \
     FROM product_user_notification INDEXED BY line_by_product \
     WHERE product_id = ? AND is_active = 1 AND id > ? AND id <= ? ORDER BY id LIMIT ?";

/// The id the statement's INSERT gave its row.
fn inserted_id(done: &SqliteQueryResult) -> i64 {
    done.last_insert_rowid()
}

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Queues this process's order writes in memory: SQLite has one writer at a time, and
    /// waiting here is far cheaper than retrying in SQLite's busy handler, which sleeps.
    order_writes: Arc<tokio::sync::Mutex<()>>,
    /// The group-commit writer that places orders (see `order_batch`).
    placements: tokio::sync::mpsc::Sender<crate::store::batch_ledger::Placing>,
    /// Draw entries waiting for the one writer, written a batch per transaction.
    entries: Arc<EntryQueue>,
    /// Waiting-room joins waiting for the writer, written a batch per transaction.
    joins: Arc<crate::store::queue::JoinQueue>,
}

impl SqliteStore {
    /// Opens (creating if asked by the URL) the database file; the store's tasks run on
    /// `tasks`.
    pub async fn connect(url: &str, tasks: &TaskTracker) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // A page cache of up to 64 MiB a connection (SQLite's default is 2 MiB): a draw
            // or a long line walks indexes of tens of MiB, which would otherwise be read
            // back from the file page by page. It grows only as far as it is used.
            .pragma("cache_size", "-65536");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let order_writes = Arc::default();
        let placements = order_batch::spawn(tasks, pool.clone(), Arc::clone(&order_writes));
        Ok(Self {
            pool,
            order_writes,
            placements,
            entries: Arc::new(EntryQueue::new(tasks)),
            joins: Arc::new(crate::store::queue::JoinQueue::new(tasks)),
        })
    }

    /// Starts a write transaction that holds the database's write lock from its first statement.
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Entries queue for the one writer (see `store::draws::EntryQueue`).
    fn entry_queue(&self) -> &EntryQueue {
        &self.entries
    }

    /// Joins queue for the join writer (see `store::queue::JoinQueue`).
    fn join_writes(&self) -> &crate::store::queue::JoinQueue {
        &self.joins
    }

    /// Waits for this process's turn to change orders (see `order_writes`).
    async fn order_turn(&self) -> Option<MutexGuard<'_, ()>> {
        Some(self.order_writes.lock().await)
    }

    /// Queues an order for the group-commit writer and waits for its answer.
    async fn place(&self, req: &OrderRequest, now: DateTime<Utc>) -> StoreResult<Placement> {
        let (reply, answer) = oneshot::channel();
        let placing = crate::store::batch_ledger::Placing {
            req: req.clone(),
            now,
            reply,
        };
        let gone = || StoreError::Database(sqlx::Error::PoolClosed);
        self.placements.send(placing).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}
