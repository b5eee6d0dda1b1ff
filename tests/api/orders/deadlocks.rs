//! A pay or cancel chosen as a MySQL deadlock's victim is run again and answers as if nothing
//! had happened. The deadlock is made on purpose: a second connection locks the order's row,
//! waits until the request queues behind it (holding the product's row), then asks for the
//! product's row. The second connection has written more, so InnoDB rolls the request back.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};
use std::time::Duration;

use crate::helpers::{Db, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_a_pay_chosen_as_a_deadlock_victim_is_run_again_and_answers_200() {
    let Some((app, product, order)) = one_order_on_mysql().await else {
        return;
    };

    let (status, body) = deadlocked(&app, product, order, "pay", async {
        app.pay(order, 1, "pay-after-deadlock").await
    })
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "PAID", "{body}");
    assert_accounted(&app, product, 5, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_a_cancel_chosen_as_a_deadlock_victim_is_run_again_and_answers_200() {
    let Some((app, product, order)) = one_order_on_mysql().await else {
        return;
    };

    let token = app.user(1);
    let (status, body) = deadlocked(&app, product, order, "cancel", async {
        app.cancel(order, &token).await
    })
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "CANCELED", "{body}");
    assert_accounted(&app, product, 5, 5).await;
}

/// Runs `request` (a pay or cancel of `order`) into a deadlock with a second connection that
/// the request loses; answers the request's answer once the second connection committed.
async fn deadlocked(
    app: &TestApp,
    product: i64,
    order: i64,
    what: &str,
    request: impl std::future::Future<Output = (StatusCode, Value)>,
) -> (StatusCode, Value) {
    let url = app.settings.database.database_url.clone();
    let database = url.rsplit('/').next().expect("database name").to_owned();
    app.raw_sql("CREATE TABLE ballast (id BIGINT PRIMARY KEY)")
        .await;
    let mut other = MySqlConnection::connect(&url).await.expect("connect");
    exec(&mut other, "BEGIN").await;
    // Weight: InnoDB rolls back the transaction that wrote least, so this one must win.
    let rows: Vec<String> = (1..=200).map(|i| format!("({i})")).collect();
    exec(
        &mut other,
        &format!("INSERT INTO ballast (id) VALUES {}", rows.join(", ")),
    )
    .await;
    exec(
        &mut other,
        &format!("UPDATE orders SET updated_at = updated_at + 1 WHERE id = {order}"),
    )
    .await;

    let closing = async {
        assert!(
            wait_for_lock_wait(&url, &database).await,
            "the {what} never waited for the order's row"
        );
        // The request holds the product's row and waits for the order's: asking for the
        // product's row closes the cycle, and InnoDB picks the request as the victim.
        let locked = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM product WHERE id = {product} FOR UPDATE"
        )))
        .execute(&mut other)
        .await;
        assert!(
            locked.is_ok(),
            "the second connection was the victim: {locked:?}"
        );
        exec(&mut other, "COMMIT").await;
    };
    let (answer, ()) = tokio::join!(request, closing);
    answer
}

async fn exec(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .expect(sql);
}

/// Waits (bounded) until a request on `database` waits for an order's row lock; false if
/// none did.
async fn wait_for_lock_wait(url: &str, database: &str) -> bool {
    let mut conn = MySqlConnection::connect(url).await.expect("connect");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        // The request's locking read of the order, still running: it waits for the row.
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE DB = ? AND INFO LIKE 'SELECT % FROM orders WHERE id = ? FOR UPDATE'",
        )
        .bind(database)
        .fetch_one(&mut conn)
        .await
        .expect("lock waits");
        if waiting > 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Free and held units add up to the stock, and the free stock is `free`.
async fn assert_accounted(app: &TestApp, product: i64, stocked: i64, free: i64) {
    let pid = dropline::domain::ids::ProductId::from_db(product);
    let record = app
        .state
        .store
        .stock_of(pid)
        .await
        .expect("stock")
        .expect("product");
    let held = app.state.store.units_held(pid).await.expect("held");
    assert_eq!(record.stock, free, "free stock");
    assert_eq!(record.stock + held, stocked, "free + held");
}

/// An app on MySQL (None when it is not configured) with a product of 5 and one order of
/// user 1 for it.
async fn one_order_on_mysql() -> Option<(TestApp, i64, i64)> {
    let app = TestApp::try_spawn(Db::Mysql).await?;
    let product = app.product(json!({ "stock": 5 })).await;
    let order = app.reserve(product, 1).await;
    Some((app, product, order))
}
