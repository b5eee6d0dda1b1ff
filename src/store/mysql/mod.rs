//! The server backend: MySQL 8 or MariaDB 10.11, row locks and InnoDB transactions.

mod catalog;
mod line;
mod order_batch;
mod order_expiry;
mod orders;
mod reach;
mod rounds;

use async_trait::async_trait;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{MySql, Transaction};
use std::str::FromStr;
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

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A MySQL or MariaDB database.
#[derive(Debug, Clone)]
pub struct MysqlStore {
    pool: MySqlPool,
    /// The group-commit writers that place orders (see `order_batch`).
    placements: order_batch::Placements,
}

impl MysqlStore {
    /// Connects a pool to the database the URL names.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let options = MySqlConnectOptions::from_str(url)?.timezone(Some(String::from("+00:00")));
        reach::check(&options, CONNECT_TIMEOUT).await?;
        let pool = MySqlPoolOptions::new()
            .max_connections(32)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_with(options)
            .await?;
        let placements = order_batch::Placements::spawn(&pool);
        Ok(Self { pool, placements })
    }

    /// Starts a transaction; rows it reads `FOR UPDATE` stay locked until it ends.
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, MySql>> {
        Ok(self.pool.begin().await?)
    }

    /// The connection pool.
    pub(crate) fn pool(&self) -> &MySqlPool {
        &self.pool
    }
}

#[async_trait]
impl AdminStore for MysqlStore {
    fn backend(&self) -> Backend {
        Backend::Mysql
    }

    async fn migrate(&self) -> StoreResult<()> {
        migrations::mysql().run(&self.pool).await?;
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
