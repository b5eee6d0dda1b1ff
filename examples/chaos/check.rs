//! The checks once the load settled: the gate against the database, every unit accounted.

use anyhow::Context;
use dropline::domain::ids::ProductId;
use sqlx::Connection;
use std::time::{Duration, Instant};

use crate::{HOLD_SECONDS, Instance, World};

/// Waits (at most 40 s) until every check passes on every instance; answers the last failures.
pub(crate) async fn settle_and_check(
    db: &str,
    world: &World,
    instances: &[Instance],
) -> anyhow::Result<Vec<String>> {
    // Every hold placed under load has passed, and the sweeper (every second) has run since.
    tokio::time::sleep(Duration::from_secs(HOLD_SECONDS as u64 + 2)).await;
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let found = check(db, world, instances).await?;
        if found.is_empty() || Instant::now() >= until {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn check(db: &str, world: &World, instances: &[Instance]) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let stocked = world.stocked.lock().unwrap().clone();
    for (n, inst) in instances.iter().enumerate() {
        for &product in &world.products {
            let pid = ProductId::from_db(product);
            inst.state.gate.refresh(pid).await?;
            let free = inst
                .state
                .store
                .stock_of(pid)
                .await?
                .context("product")?
                .stock;
            let held = inst.state.store.units_held(pid).await?;
            let level = inst.state.gate.level(pid);
            let total = stocked[&product];
            let at = format!("instance {n}, product {product}");
            if level.available != free {
                found.push(format!(
                    "{at}: gate available {} != database free {free}",
                    level.available
                ));
            }
            if level.pending != 0 {
                found.push(format!(
                    "{at}: {} units still pending at the gate",
                    level.pending
                ));
            }
            if free + held != total {
                found.push(format!(
                    "{at}: free {free} + held {held} != stocked {total}"
                ));
            }
            if held > total || free < 0 {
                found.push(format!("{at}: sold {held} of {total} stocked, free {free}"));
            }
        }
    }
    for (status, n) in statuses(db, "orders").await? {
        if !["RESERVED", "PAID", "CANCELED", "EXPIRED"].contains(&status.as_str()) {
            found.push(format!("{n} orders in status {status}"));
        }
    }
    for (status, n) in statuses(db, "product_notification_history").await? {
        if status == "IN_PROGRESS" {
            found.push(format!(
                "{n} rounds still IN_PROGRESS after the load settled"
            ));
        } else if !["COMPLETED", "CANCELED_BY_SOLD_OUT", "CANCELED_BY_ERROR"]
            .contains(&status.as_str())
        {
            found.push(format!("{n} rounds in status {status}"));
        }
    }
    Ok(found)
}

/// Rows of `table` by status, read straight from the database.
pub(crate) async fn statuses(
    db: &str,
    table: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let sql = format!("SELECT CAST(status AS CHAR), COUNT(*) FROM {table} GROUP BY status");
    let rows: Vec<(String, i64)> = if db.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(db).await?;
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?
    } else {
        let mut conn = sqlx::SqliteConnection::connect(db).await?;
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?
    };
    Ok(rows.into_iter().collect())
}
