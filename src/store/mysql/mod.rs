//! The server backend: MySQL 8 or MariaDB 10.11, row locks and InnoDB transactions.

mod first_connection;
mod order_batch;
mod order_expiry;
mod orders;
// The shared store code, compiled here against this backend's types (`Db`, `SqlStore`,
// `DIALECT`); `sqlite` compiles the same files against its own.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use chrono::{DateTime, Utc};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions, MySqlQueryResult};
use sqlx::{MySql, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::MutexGuard;
use tokio_util::task::TaskTracker;

use super::StoreResult;
use super::dialect::Dialect;
use crate::domain::order::Expired;
use crate::store::draws::EntryQueue;
use orders::add_stock;
pub use sql::HOT_QUERIES;

/// The database type the shared store code (`store/sql`) runs on here.
type Db = MySql;
/// The store the shared store code implements the storage traits for here.
type SqlStore = MysqlStore;

/// The dialect the shared store code is compiled against here.
const DIALECT: Dialect = Dialect::MYSQL;

/// Reads the line in order: the hottest query of a round, served by `line_by_product`.
///
/// The index is forced because MariaDB otherwise picks `ref` access on its first two parts and
/// filters `id` row by row, so every page costs as much as the line before it (measured: 176 ms
/// per page a million deep, 1.6 ms as a range seek on all three parts).
const LINE_PAGE_SQL: &str = "SELECT id, product_id, user_id, is_active, created_at \
     FROM product_user_notification FORCE INDEX (line_by_product) \
     WHERE product_id = ? AND is_active = 1 AND id > ? AND id <= ? ORDER BY id LIMIT ?";

/// The id the statement's INSERT gave its row.
fn inserted_id(done: &MySqlQueryResult) -> i64 {
    done.last_insert_id() as i64
}

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A MySQL or MariaDB database.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pool: MySqlPool,
    /// The group-commit writers that place orders (see `order_batch`).
    placements: order_batch::Placements,
    /// Draw entries waiting for this instance's entry writer, written a batch per
    /// transaction (one commit, so one log flush, for a burst of entries).
    entries: std::sync::Arc<EntryQueue>,
    /// Waiting-room joins waiting for the writer, written a batch per transaction.
    joins: std::sync::Arc<crate::store::queue::JoinQueue>,
}

impl MysqlStore {
    /// Connects a pool of at most `max_connections` to the database the URL names; the
    /// store's tasks run on `tasks`.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        tasks: &TaskTracker,
    ) -> StoreResult<Self> {
        let options = MySqlConnectOptions::from_str(url)?.timezone(Some(String::from("+00:00")));
        first_connection::check(&options, CONNECT_TIMEOUT).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        let placements = order_batch::Placements::spawn(tasks, &pool);
        Ok(Self {
            pool,
            placements,
            entries: std::sync::Arc::new(EntryQueue::new(tasks)),
            joins: std::sync::Arc::new(crate::store::queue::JoinQueue::new(tasks)),
        })
    }

    /// Starts a transaction; rows it reads `FOR UPDATE` stay locked until it ends.
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, MySql>> {
        Ok(self.pool.begin().await?)
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Entries queue for this instance's entry writer (see `store::draws::EntryQueue`).
    fn entry_queue(&self) -> &EntryQueue {
        &self.entries
    }

    /// Joins queue for the join writer (see `store::queue::JoinQueue`).
    fn join_writes(&self) -> &crate::store::queue::JoinQueue {
        &self.joins
    }

    /// Order changes queue on the product's row lock, not in process: no turn to wait for.
    async fn order_turn(&self) -> Option<MutexGuard<'_, ()>> {
        None
    }

    /// Expires up to `limit` RESERVED orders whose hold ended by `now` and returns their units.
    async fn expire(&self, now: DateTime<Utc>, limit: i64) -> StoreResult<Expired> {
        order_expiry::expire_due(self, now, limit).await
    }
}
