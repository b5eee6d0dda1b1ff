//! The delivery log: appended in batches by the engine's log writer, read by the operator's
//! endpoints and the dashboard, swept by age.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::SqlStore;
use crate::domain::clock::from_millis;
use crate::domain::delivery::{DeliveryAttempt, DeliveryFailures, DeliveryRecord};
use crate::domain::ids::ProductId;
use crate::domain::page::PageRequest;
use crate::store::StoreResult;
use crate::store::deliveries::{DELIVERY_COLUMNS, DeliveryRow, DeliveryStore, RoundDeliveries};
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;

/// Rows per insert statement (14 values each, well inside SQLite's bound variables).
const INSERT_ROWS: usize = 500;

#[async_trait]
impl DeliveryStore for SqlStore {
    async fn record_deliveries(&self, attempts: &[DeliveryAttempt]) -> StoreResult<()> {
        if attempts.is_empty() {
            return Ok(());
        }
        lock_races("delivery log", || async {
            let mut tx = self.write_tx().await?;
            for chunk in attempts.chunks(INSERT_ROWS) {
                let mut ins = QueryBuilder::new(
                    "INSERT INTO delivery_attempt (webhook_id, kind, product_id, round, user_id, \
                     outcome, sender, http_status, error, started_at, answered_at, body) ",
                );
                ins.push_values(chunk, |mut b, a| {
                    b.push_bind(a.webhook_id.clone())
                        .push_bind(a.kind.as_str())
                        .push_bind(a.product_id.get())
                        .push_bind(a.round)
                        .push_bind(a.user_id.get())
                        .push_bind(a.outcome.as_str())
                        .push_bind(a.sender.as_str())
                        .push_bind(a.http_status.map(i64::from))
                        .push_bind(a.error.clone())
                        .push_bind(a.started_at.timestamp_millis())
                        .push_bind(a.answered_at.timestamp_millis())
                        .push_bind(a.body.clone());
                });
                ins.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn round_deliveries(
        &self,
        which: RoundDeliveries,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut q = QueryBuilder::new(format!(
            "SELECT {DELIVERY_COLUMNS} FROM delivery_attempt d WHERE d.product_id = "
        ));
        q.push_bind(which.product.get())
            .push(" AND d.round = ")
            .push_bind(which.round)
            .push(" AND d.id > ")
            .push_bind(page.after.unwrap_or(0));
        if let Some(outcome) = which.outcome {
            q.push(" AND d.outcome = ").push_bind(outcome.as_str());
        }
        q.push(" ORDER BY d.id LIMIT ").push_bind(page.fetch());
        let rows: Vec<DeliveryRow> = q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(DeliveryRecord::from).collect())
    }

    async fn deliveries_of(
        &self,
        webhook_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {DELIVERY_COLUMNS} FROM delivery_attempt d WHERE d.webhook_id = ? \
             ORDER BY d.id LIMIT ?"
        )))
        .bind(webhook_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(DeliveryRecord::from).collect())
    }

    async fn delivery_failures(
        &self,
        product: ProductId,
        round: i64,
    ) -> StoreResult<DeliveryFailures> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM delivery_attempt WHERE product_id = ? AND round = ? \
             AND outcome IN ('failed', 'pending')",
        )
        .bind(product.get())
        .bind(round)
        .fetch_one(self.pool())
        .await?;
        let last: Option<(Option<String>, i64)> = sqlx::query_as(
            "SELECT error, answered_at FROM delivery_attempt WHERE product_id = ? AND round = ? \
             AND outcome IN ('failed', 'pending') ORDER BY id DESC LIMIT 1",
        )
        .bind(product.get())
        .bind(round)
        .fetch_optional(self.pool())
        .await?;
        Ok(DeliveryFailures {
            count,
            last_error: last.as_ref().and_then(|(e, _)| e.clone()),
            last_at: last.map(|(_, at)| from_millis(at)),
        })
    }

    async fn sweep_deliveries(&self, before: DateTime<Utc>, limit: i64) -> StoreResult<u64> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM delivery_attempt WHERE started_at < ? ORDER BY started_at LIMIT ?",
        )
        .bind(before.timestamp_millis())
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        lock_races("delivery sweep", || async {
            let mut tx = self.write_tx().await?;
            let mut del = QueryBuilder::new("DELETE FROM delivery_attempt WHERE id IN ");
            push_id_list(&mut del, ids.iter().map(|(id,)| *id));
            let gone = del.build().execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            Ok(gone)
        })
        .await
    }
}
