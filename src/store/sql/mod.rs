//! The store code both SQL backends share, written once. Each backend compiles this folder
//! as its own `sql` module (`#[path]` in `sqlite/mod.rs` and `mysql/mod.rs`), against its
//! own `SqlStore`, `Db` and `DIALECT`, so every query here runs on that backend's concrete
//! sqlx types. What differs in the SQL is in [`Dialect`](crate::store::dialect::Dialect);
//! what differs in the code (connecting, placing and expiring orders) stays in the backend.

mod catalog;
mod claim_order;
mod claims;
mod deliveries;
mod draws;
mod line;
pub(super) mod orders;
mod queue;
mod rounds;

use async_trait::async_trait;

use sqlx::{AssertSqlSafe, Database, FromRow, SqlSafeStr, Transaction};
use std::collections::BTreeMap;

use super::{DIALECT, Db, LINE_PAGE_SQL, SqlStore, add_stock, inserted_id};
use crate::domain::ids::ProductId;
use crate::domain::order::Returned;
use crate::store::{AdminStore, Backend, HotQuery, StoreError, StoreResult};

/// The queries on hot paths, with the index each must use (checked by a test with EXPLAIN).
pub const HOT_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "line page",
        sql: LINE_PAGE_SQL,
        index: "line_by_product",
        binds: &[1, 0, i64::MAX, 100],
    },
    HotQuery {
        name: "round recipients page",
        sql: rounds::RECIPIENTS_PAGE_SQL,
        index: "recipients_in_order",
        binds: &[1, 1, 0, 100],
    },
    HotQuery {
        name: "queue member of an order's buyer",
        sql: crate::store::queue::MEMBER_OF_USER_SQL,
        index: "queue_of_user",
        binds: &[1, 2],
    },
];

#[async_trait]
impl AdminStore for SqlStore {
    fn backend(&self) -> Backend {
        DIALECT.backend
    }

    async fn migrate(&self) -> StoreResult<()> {
        DIALECT.migrator().run(self.pool()).await?;
        Ok(())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool().close().await;
    }

    async fn deployment_id(&self) -> StoreResult<String> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM deployment LIMIT 1")
            .fetch_optional(self.pool())
            .await?;
        id.ok_or(StoreError::NotFound)
    }
}

impl SqlStore {
    /// Runs a read whose placeholders are all integers, bound in order, and turns every row
    /// it answers into a `T`.
    pub(super) async fn rows<R, T>(
        &self,
        sql: impl SqlSafeStr + Send,
        binds: &[i64],
    ) -> StoreResult<Vec<T>>
    where
        R: for<'r> FromRow<'r, <Db as Database>::Row> + Send + Unpin,
        T: From<R>,
    {
        let mut q = sqlx::query_as::<Db, R>(sql);
        for b in binds {
            q = q.bind(*b);
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(T::from).collect())
    }
}

/// Reads `columns` of a product's row and keeps the row locked until the transaction ends
/// (on SQLite the write transaction holds the whole database already): the first step of
/// every change that moves units. None for an unknown product.
pub(super) async fn lock_product<R>(
    tx: &mut Transaction<'static, Db>,
    product: ProductId,
    columns: &str,
) -> StoreResult<Option<R>>
where
    R: for<'r> FromRow<'r, <Db as Database>::Row> + Send + Unpin,
{
    Ok(sqlx::query_as(AssertSqlSafe(format!(
        "SELECT {columns} FROM product WHERE id = ?{}",
        DIALECT.lock
    )))
    .bind(product.get())
    .fetch_optional(&mut **tx)
    .await?)
}

/// Gives units back to their products' stock (product id to units); answers each product's
/// stock version after the change.
pub(super) async fn return_units(
    tx: &mut Transaction<'static, Db>,
    units: BTreeMap<i64, i64>,
) -> StoreResult<Vec<Returned>> {
    let mut returned = Vec::with_capacity(units.len());
    for (product, units) in units {
        let stock_version = add_stock(tx, product, units).await?;
        returned.push(Returned {
            product: ProductId::from_db(product),
            units,
            stock_version,
        });
    }
    Ok(returned)
}
