//! The embedded backend: one SQLite file in WAL mode. Writers take the lock up front
//! (`BEGIN IMMEDIATE`) because SQLite has no row locks.

mod catalog;
mod line;
mod order_batch;
mod orders;
mod rounds;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use super::{AdminStore, Backend, HotQuery, StoreResult, migrations};

/// The queries on hot paths, with the index each must use (checked by a test with EXPLAIN).
pub const HOT_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "line page",
        sql: line::LINE_PAGE_SQL,
        index: "line_by_product",
        binds: &[1, 0, i64::MAX, 100],
    },
    HotQuery {
        name: "round recipients page",
        sql: rounds::RECIPIENTS_PAGE_SQL,
        index: "recipients_in_order",
        binds: &[1, 1, 0, 100],
    },
];

/// A SQLite database.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Queues this process's order writes in memory: SQLite has one writer at a time, and
    /// waiting here is far cheaper than retrying in SQLite's busy handler, which sleeps.
    order_writes: Arc<tokio::sync::Mutex<()>>,
    /// The group-commit writer that places orders (see `order_batch`).
    placements: tokio::sync::mpsc::Sender<order_batch::Placing>,
}

impl SqliteStore {
    /// Opens (creating if asked by the URL) the database file.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let order_writes = Arc::default();
        let placements = order_batch::spawn(pool.clone(), Arc::clone(&order_writes));
        Ok(Self {
            pool,
            order_writes,
            placements,
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
}

#[async_trait]
impl AdminStore for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> StoreResult<()> {
        migrations::sqlite().run(&self.pool).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    async fn deployment_id(&self) -> StoreResult<String> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM deployment LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        id.ok_or(super::StoreError::NotFound)
    }
}
