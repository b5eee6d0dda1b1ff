//! The store code both SQL backends share, written once. Each backend compiles this folder
//! as its own `sql` module (`#[path]` in `sqlite/mod.rs` and `mysql/mod.rs`), against its
//! own `SqlStore`, `Db` and `DIALECT`, so every query here runs on that backend's concrete
//! sqlx types. What differs in the SQL is in [`Dialect`](crate::store::dialect::Dialect);
//! what differs in the code (connecting, placing and expiring orders) stays in the backend.

mod catalog;
mod line;
pub(super) mod orders;
mod rounds;

use async_trait::async_trait;

use super::{DIALECT, Db, SqlStore, add_stock, inserted_id};
use crate::store::{AdminStore, Backend, HotQuery, StoreError, StoreResult};

/// The queries on hot paths, with the index each must use (checked by a test with EXPLAIN).
pub const HOT_QUERIES: &[HotQuery] = &[
    HotQuery {
        name: "line page",
        sql: DIALECT.line_page,
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

#[async_trait]
impl AdminStore for SqlStore {
    fn backend(&self) -> Backend {
        DIALECT.backend
    }

    async fn migrate(&self) -> StoreResult<()> {
        (DIALECT.migrations)().run(self.pool()).await?;
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
