//! What tells the two SQL databases apart, for the store code they share (`store/sql`).

use sqlx::migrate::Migrator;

use super::{Backend, migrations};

/// The SQL of one database, where the shared store code needs it to differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// Which database this is.
    pub backend: Backend,
    /// Ends a SELECT whose rows must stay locked until the transaction ends: ` FOR UPDATE`,
    /// or nothing where a write transaction already holds the whole database (SQLite).
    pub lock: &'static str,
    /// Starts an INSERT that skips the rows whose unique key is taken.
    pub insert_ignore: &'static str,
    /// The integer type to CAST a `SUM` to (MySQL sums a BIGINT as DECIMAL).
    pub integer: &'static str,
    /// Ends a SELECT whose rows must not change until the transaction ends while other
    /// readers may hold them too (` LOCK IN SHARE MODE`; nothing on SQLite).
    pub lock_shared: &'static str,
    /// Follows the table name of an UPDATE whose rows are listed by primary key, so the
    /// planner looks them up by key instead of scanning a secondary index that the other
    /// conditions also match (SQLite, without statistics, prefers such an index).
    pub by_key: &'static str,
}

impl Dialect {
    /// MySQL's and MariaDB's SQL: InnoDB row locks.
    pub const MYSQL: Self = Self {
        backend: Backend::Mysql,
        lock: " FOR UPDATE",
        insert_ignore: "INSERT IGNORE",
        integer: "SIGNED",
        lock_shared: " LOCK IN SHARE MODE",
        by_key: " FORCE INDEX (PRIMARY)",
    };

    /// SQLite's SQL: no row locks (`BEGIN IMMEDIATE` takes the database's write lock instead).
    pub const SQLITE: Self = Self {
        backend: Backend::Sqlite,
        lock: "",
        insert_ignore: "INSERT OR IGNORE",
        integer: "INTEGER",
        lock_shared: "",
        by_key: " NOT INDEXED",
    };

    /// Whether `lock` takes row locks; then an order change locks its product's row before
    /// the order's, the lock order every order writer keeps.
    pub const fn row_locks(&self) -> bool {
        !self.lock.is_empty()
    }

    /// The database's schema, in order.
    pub fn migrator(&self) -> Migrator {
        match self.backend {
            Backend::Sqlite => migrations::sqlite(),
            Backend::Mysql => migrations::mysql(),
        }
    }
}
