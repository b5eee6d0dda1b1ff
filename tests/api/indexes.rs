//! Every hot query is served by the index meant for it: no full scan, no sort.

use sqlx::{Connection, Row};

use crate::helpers::{Db, TestApp};

crate::on_every_backend!(hot_queries_use_their_index_without_scan_or_sort);

async fn hot_queries_use_their_index_without_scan_or_sort(app: TestApp) {
    // Enough rows over two products that a scan would be a real choice for the planner.
    // Product 1 is the one the sample values of every hot query name.
    let a = app.create_product(serde_json::json!({})).await["id"]
        .as_i64()
        .unwrap();
    let b = app.create_product(serde_json::json!({})).await["id"]
        .as_i64()
        .unwrap();
    let users: Vec<i64> = (1..=3_000).collect();
    app.import(a, &users).await;
    app.import(b, &users).await;
    // Members of product 1's waiting room, for the read an order on a queued product adds.
    let members: Vec<String> = (1..=200)
        .map(|u| format!("({a}, {u}, 0, '', 'WAITING', 0, 0)"))
        .collect();
    app.raw_sql(&format!(
        "INSERT INTO queue_member (product_id, user_id, lane, rank_key, status, joined_at, \
         updated_at) VALUES {}",
        members.join(", ")
    ))
    .await;

    let url = app.settings.database.database_url.clone();
    match app.db {
        Db::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
            for q in dropline::store::sqlite::HOT_QUERIES {
                let sql = format!("EXPLAIN QUERY PLAN {}", q.sql);
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in q.binds {
                    query = query.bind(*v);
                }
                let plan: Vec<String> = query
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| r.get::<String, _>("detail"))
                    .collect();
                let text = plan.join(" | ");
                assert!(
                    text.contains(&format!("INDEX {}", q.index)),
                    "{}: {text}",
                    q.name
                );
                assert!(!text.contains("TEMP B-TREE"), "{} sorts: {text}", q.name);
                assert!(!text.starts_with("SCAN"), "{} scans: {text}", q.name);
            }
        }
        Db::Mysql => {
            let mut conn = sqlx::MySqlConnection::connect(&url).await.unwrap();
            for table in [
                "product_user_notification",
                "product_notification_history",
                "product_user_notification_history",
                "orders",
                "queue_member",
            ] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE TABLE {table}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            for q in dropline::store::mysql::HOT_QUERIES {
                let sql = format!("EXPLAIN {}", q.sql);
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for v in q.binds {
                    query = query.bind(*v);
                }
                let rows = query.fetch_all(&mut conn).await.unwrap();
                for row in rows {
                    let key: Option<String> = row.try_get("key").unwrap_or(None);
                    let access: Option<String> = row.try_get("type").unwrap_or(None);
                    let extra: Option<String> = row.try_get("Extra").unwrap_or(None);
                    let extra = extra.unwrap_or_default();
                    assert_eq!(
                        key.as_deref(),
                        Some(q.index),
                        "{}: type {access:?}, extra {extra}",
                        q.name
                    );
                    assert_ne!(access.as_deref(), Some("ALL"), "{} scans", q.name);
                    assert!(!extra.contains("filesort"), "{} sorts: {extra}", q.name);
                }
            }
        }
    }
}
