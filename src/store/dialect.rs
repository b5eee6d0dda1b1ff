//! What tells the two SQL databases apart, for the store code they share (`store/sql`).

use sqlx::migrate::Migrator;

use super::Backend;

/// The SQL and the habits of one database, as the shared store code needs them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialect {
    /// Which database this is.
    pub backend: Backend,
    /// Its schema, in order.
    pub migrations: fn() -> Migrator,
    /// Ends a SELECT whose rows must stay locked until the transaction ends: ` FOR UPDATE`,
    /// or nothing where a write transaction already holds the whole database (SQLite).
    pub lock: &'static str,
    /// Whether `lock` takes row locks; then an order change locks its product's row before
    /// the order's, the lock order every order writer keeps.
    pub row_locks: bool,
    /// Starts an INSERT that skips the rows whose unique key is taken.
    pub insert_ignore: &'static str,
    /// The integer type to CAST a `SUM` to (MySQL sums a BIGINT as DECIMAL).
    pub integer: &'static str,
    /// A product's brand ids as comma-separated text, for a query that names the product `p`.
    pub brand_list: &'static str,
    /// Reads the line in order (the hottest query of a round), with the index hint the
    /// database's planner needs to seek `line_by_product` on all three of its parts.
    pub line_page: &'static str,
}
