//! Two instances on one MySQL: buyers pay and cancel the same orders at once through
//! different instances, others order meanwhile, and some give up mid-request, while an
//! operator's transactions lock orders and products in the opposite order (so deadlocks
//! happen, and the requests lose them). Lost lock races are run again inside the store, so no
//! answer is a 5xx, every order ends in one state that agrees with the answers, and the stock
//! adds up.

use futures::future::join_all;
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection};

use crate::helpers::{Db, TestApp, abandon, assert_accounted, settled};

/// Orders paid on one instance while canceled on the other.
const PAY_AND_CANCEL: i64 = 60;
/// Orders paid on both instances at once, with different payment references.
const PAID_TWICE: i64 = 60;
/// Buyers who order while the others pay and cancel.
const LATE_BUYERS: i64 = 40;
const STOCK: i64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_pays_and_cancels_racing_over_two_instances_never_answer_5xx() {
    let Some(apps) = TestApp::spawn_cluster(Db::Mysql, 2).await else {
        return;
    };
    let products = [
        apps[0]
            .product(json!({ "stock": STOCK / 2, "per_user_limit": 1 }))
            .await,
        apps[1]
            .product(json!({ "stock": STOCK / 2, "per_user_limit": 1 }))
            .await,
    ];
    let baselines: Vec<usize> = apps.iter().map(|a| a.state.tasks.len()).collect();
    let buyers = PAY_AND_CANCEL + PAID_TWICE;
    let orders: Vec<(i64, i64)> = join_all((1..=buyers).map(|user| {
        let (app, product) = (&apps[(user % 2) as usize], products[(user % 2) as usize]);
        async move { (user, app.reserve(product, user).await) }
    }))
    .await;

    let mut work = Vec::new();
    for &(user, order) in &orders {
        // Which instance goes first alternates, so both see both sides of every race.
        let (a, b) = if order % 2 == 0 {
            (&apps[0], &apps[1])
        } else {
            (&apps[1], &apps[0])
        };
        let token = a.user(user);
        if user <= PAY_AND_CANCEL {
            work.push(Box::pin(async move {
                let (paying, canceler) = (format!("pay-{order}"), b.user(user));
                let gone = format!("/orders/{order}/cancel");
                let (pay, cancel, ()) = tokio::join!(
                    a.pay(order, user, &paying),
                    b.cancel(order, &canceler),
                    abandon(a, "POST", &gone, &token, "", 5),
                );
                (user, order, vec![pay, cancel])
            })
                as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>);
        } else {
            let body = json!({ "payment_ref": format!("first-{order}") }).to_string();
            work.push(Box::pin(async move {
                let (one, two) = (format!("first-{order}"), format!("second-{order}"));
                let gone = format!("/orders/{order}/pay");
                let (first, second, ()) = tokio::join!(
                    a.pay(order, user, &one),
                    b.pay(order, user, &two),
                    abandon(b, "POST", &gone, &token, &body, 5),
                );
                (user, order, vec![first, second])
            }));
        }
    }
    for user in buyers + 1..=buyers + LATE_BUYERS {
        let (app, product) = (&apps[(user % 2) as usize], products[(user % 2) as usize]);
        work.push(Box::pin(async move {
            let placed = app.order(product, user).await;
            (user, 0, vec![placed])
        }));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let url = apps[0].settings.database.database_url.clone();
    let crossing = crossing_locks(&url, &orders, &products, stopped);
    let (done, waits) = tokio::join!(
        async {
            let done = join_all(work).await;
            stop.send_replace(true);
            done
        },
        crossing
    );
    eprintln!("the operator's transactions waited for a product's row {waits} times");

    for (user, order, answers) in &done {
        for (status, body) in answers {
            assert!(
                !status.is_server_error(),
                "user {user}, order {order}: {status} {body}"
            );
        }
        if *order == 0 {
            assert_eq!(answers[0].0, StatusCode::CREATED, "{}", answers[0].1);
            continue;
        }
        let (status, now) = apps[0]
            .get(&format!("/orders/{order}"), Some(&apps[0].user(*user)))
            .await;
        assert_eq!(status, StatusCode::OK, "{now}");
        if *user <= PAY_AND_CANCEL {
            one_of_pay_and_cancel(*order, answers, &now);
        } else {
            one_of_two_pays(*order, answers, &now);
        }
    }
    for (app, baseline) in apps.iter().zip(&baselines) {
        for product in products {
            settled(app, product, *baseline).await;
        }
    }
    for product in products {
        assert_accounted(&apps[0], product, STOCK / 2).await;
        assert_accounted(&apps[1], product, STOCK / 2).await;
    }
    let held: i64 = join_all(products.map(|p| {
        apps[0]
            .state
            .store
            .units_held(dropline::domain::ids::ProductId::from_db(p))
    }))
    .await
    .into_iter()
    .map(|h| h.expect("held"))
    .sum();
    assert_eq!(
        held,
        PAID_TWICE + LATE_BUYERS,
        "paid and late orders hold stock"
    );
}

/// A cancel always lands (it also cancels a paid order); the pay either went first (200) or
/// found the order canceled (409 `order_canceled`).
fn one_of_pay_and_cancel(order: i64, answers: &[(StatusCode, Value)], now: &Value) {
    let [(pay, pay_body), (cancel, cancel_body)] = answers else {
        panic!("two answers for order {order}");
    };
    assert_eq!(*cancel, StatusCode::OK, "{cancel_body}");
    assert_eq!(cancel_body["status"], "CANCELED", "{cancel_body}");
    match *pay {
        StatusCode::OK => assert_eq!(pay_body["status"], "PAID", "{pay_body}"),
        StatusCode::CONFLICT => assert_eq!(pay_body["error"]["code"], "order_canceled"),
        other => panic!("order {order}: pay answered {other} {pay_body}"),
    }
    assert_eq!(now["status"], "CANCELED", "order {order}: {now}");
}

/// Exactly one of two pays with different references wins; the other is 409 `already_paid`.
/// (The abandoned pay reuses the first reference, so it never changes the answers.)
fn one_of_two_pays(order: i64, answers: &[(StatusCode, Value)], now: &Value) {
    let won: Vec<&(StatusCode, Value)> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .collect();
    assert_eq!(won.len(), 1, "order {order}: {answers:?}");
    for (status, body) in answers {
        if *status != StatusCode::OK {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "already_paid", "{body}");
        }
    }
    assert_eq!(now["status"], "PAID", "order {order}: {now}");
}

/// Until `stop`, runs an operator's transactions that cross the requests' lock order: a
/// sizeable write, an order's row, then its product's row (every request locks the product
/// first). Each one that waited for the product's row closed a cycle with a request waiting
/// for that order, which InnoDB resolves by rolling the lighter request back. Answers how
/// often the product's row was not free at once (for the log).
async fn crossing_locks(
    url: &str,
    orders: &[(i64, i64)],
    products: &[i64; 2],
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> u32 {
    let mut conn = MySqlConnection::connect(url).await.expect("connect");
    exec(&mut conn, "CREATE TABLE ballast (id BIGINT PRIMARY KEY)").await;
    let rows: Vec<String> = (1..=200).map(|i| format!("({i})")).collect();
    let ballast = format!("INSERT INTO ballast (id) VALUES {}", rows.join(", "));
    let mut waited = 0;
    while !*stop.borrow() {
        let (user, order) = orders[rand::rng().random_range(0..orders.len())];
        let product = products[(user % 2) as usize];
        exec(&mut conn, "BEGIN").await;
        exec(&mut conn, &ballast).await;
        let touched = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "UPDATE orders SET updated_at = updated_at + 1 WHERE id = {order}"
        )))
        .execute(&mut conn)
        .await;
        if touched.is_err() {
            // This transaction lost a race itself: start another.
            exec(&mut conn, "ROLLBACK").await;
            continue;
        }
        // Long enough for requests to queue behind the order's row.
        tokio::select! {
            _ = stop.changed() => {}
            () = tokio::time::sleep(std::time::Duration::from_millis(3)) => {}
        }
        let started = tokio::time::Instant::now();
        let locked = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM product WHERE id = {product} FOR UPDATE"
        )))
        .execute(&mut conn)
        .await;
        if locked.is_ok() && started.elapsed() > std::time::Duration::from_millis(1) {
            waited += 1;
        }
        exec(&mut conn, "ROLLBACK").await;
    }
    waited
}

async fn exec(conn: &mut MySqlConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .expect(sql);
}
