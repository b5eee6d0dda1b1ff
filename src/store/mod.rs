//! Storage: one trait per area, one module per backend. Only this module talks SQL.

pub(crate) mod batch_ledger;
pub mod cache;
pub mod claims;
pub mod deliveries;
mod dialect;
pub mod draws;
pub(crate) mod group_commit;
mod migrations;
pub mod mysql;
mod orders;
pub mod queue;
pub(crate) mod retry;
pub mod rounds;
pub(crate) mod rows;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tokio_util::task::TaskTracker;

use crate::domain::brand::{Brand, NewBrand};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::order::StockVersion;
use crate::domain::page::PageRequest;
use crate::domain::product::{NewProduct, Product, ProductChanges};
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::domain::{Conflict, ValidationError};
pub use claims::ClaimStore;
pub use deliveries::DeliveryStore;
pub use draws::DrawStore;
pub use queue::QueueStore;
pub use rounds::RoundStore;

pub use self::orders::OrderStore;

/// What a storage call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("not found")]
    NotFound,
    /// A value refers to something that does not exist (an unknown brand, say).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The state of things refuses the change.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The database failed; the cause is for the log, never for the client.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The store broke one of its own promises (a batch lost, a row read back that it did
    /// not write); answered like a database failure: the text is for the log only.
    #[error("store fault: {0}")]
    Internal(&'static str),
    /// The database server cannot be reached or refused us; the text names the cause.
    #[error("{0}")]
    Unreachable(String),
    /// A write lost a lock race to another transaction on every try (a MySQL deadlock or
    /// lock wait timeout; see `retry`); nothing was written, and the same request may simply
    /// be sent again. The text names the write.
    #[error("{0} kept losing lock races to concurrent writes")]
    Contended(&'static str),
    /// Applying the schema failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A MySQL 8 or MariaDB 10.11 server.
    Mysql,
}

/// A query on a hot path and the index that must serve it (filter and order).
#[derive(Debug, Clone, Copy)]
pub struct HotQuery {
    /// What it is for.
    pub name: &'static str,
    /// Its SQL, exactly as the store runs it; every placeholder is an integer.
    pub sql: &'static str,
    /// The index that must serve it.
    pub index: &'static str,
    /// Sample values for its placeholders, on a database whose product 1 has data.
    pub binds: &'static [i64],
}

/// A product's free stock as the database records it, and the version of that record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockRecord {
    /// The product.
    pub product: ProductId,
    /// Units free to order.
    pub stock: i64,
    /// Bumped with every change of `stock`, in the same transaction.
    pub version: StockVersion,
}

/// Schema and liveness.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Applies every pending migration.
    async fn migrate(&self) -> StoreResult<()>;
    /// Answers when the database does.
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool, waiting for connections to return.
    async fn close(&self);
    /// The id `migrate` gave this database: shared state elsewhere (Redis) lives under it.
    async fn deployment_id(&self) -> StoreResult<String>;
}

/// Brands and products.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Creates a brand.
    async fn create_brand(&self, brand: &NewBrand, now: DateTime<Utc>) -> StoreResult<Brand>;
    /// Lists brands by ascending id.
    async fn list_brands(&self, page: &PageRequest) -> StoreResult<Vec<Brand>>;
    /// Creates a product; an unknown brand is `Invalid` on `brand_ids`.
    async fn create_product(
        &self,
        product: &NewProduct,
        now: DateTime<Utc>,
    ) -> StoreResult<Product>;
    /// Reads one product.
    async fn get_product(&self, id: ProductId) -> StoreResult<Option<Product>>;
    /// Lists products by ascending id.
    async fn list_products(&self, page: &PageRequest) -> StoreResult<Vec<Product>>;
    /// Replaces a product's name and sale settings.
    async fn update_product(
        &self,
        id: ProductId,
        changes: &ProductChanges,
        now: DateTime<Utc>,
    ) -> StoreResult<Product>;
    /// Every product's free stock and stock version, to load the stock gate.
    async fn all_stock(&self) -> StoreResult<Vec<StockRecord>>;
    /// One product's free stock and stock version, read together.
    async fn stock_of(&self, product: ProductId) -> StoreResult<Option<StockRecord>>;
}

/// The restock-alert line.
#[async_trait]
pub trait LineStore: Send + Sync {
    /// Puts a user at the back of the line, or keeps the place of one already in it.
    async fn join_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<(JoinOutcome, Subscription)>;
    /// Takes a user out of the line; nothing happens when not in it.
    async fn leave_line(
        &self,
        product: ProductId,
        user: UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// A user's subscription to a product's line while active, with the user's 1-based place
    /// among the line's active members; None when not in the line.
    async fn line_place(
        &self,
        product: ProductId,
        user: UserId,
    ) -> StoreResult<Option<(Subscription, i64)>>;
    /// A user's active subscriptions, by line position.
    async fn user_subscriptions(
        &self,
        user: UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<Subscription>>;
    /// Appends users to the back in the given order; those already in line keep their place.
    async fn import_line(
        &self,
        product: ProductId,
        users: &[UserId],
        now: DateTime<Utc>,
    ) -> StoreResult<ImportOutcome>;
    /// Active members with a position in the window, by position.
    async fn line_page(&self, product: ProductId, w: LineWindow) -> StoreResult<Vec<Subscription>>;
}

/// Which members a page of the line holds: positions in `(after, upto]`, at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineWindow {
    /// The position the page starts after.
    pub after: i64,
    /// The last position it may hold.
    pub upto: i64,
    /// The most members it holds.
    pub limit: i64,
}

/// Everything the service needs from a database.
pub trait Store:
    AdminStore
    + CatalogStore
    + LineStore
    + OrderStore
    + RoundStore
    + DrawStore
    + ClaimStore
    + QueueStore
    + DeliveryStore
{
}

impl<T> Store for T where
    T: AdminStore
        + CatalogStore
        + LineStore
        + OrderStore
        + RoundStore
        + DrawStore
        + ClaimStore
        + QueueStore
        + DeliveryStore
{
}

/// Connects to the database the URL names (`sqlite:` or `mysql:`/`mariadb:`), with a MySQL
/// pool of the default size; the store runs its tasks (group-commit writers, entry batches)
/// on `tasks`.
pub async fn connect(url: &str, tasks: &TaskTracker) -> StoreResult<Arc<dyn Store>> {
    connect_with(url, crate::config::DEFAULT_MAX_CONNECTIONS, tasks).await
}

/// As [`connect`], opening at most `max_connections` connections to a MySQL database.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    tasks: &TaskTracker,
) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, tasks).await?))
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        let url = url.replacen("mariadb:", "mysql:", 1);
        Ok(Arc::new(
            mysql::MysqlStore::connect(&url, max_connections, tasks).await?,
        ))
    } else {
        Err(StoreError::Invalid(ValidationError::new(
            "database_url",
            "must start with sqlite: or mysql:",
        )))
    }
}
