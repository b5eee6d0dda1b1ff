//! Races for stock: exact outcomes under many simultaneous requests.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use crate::helpers::{TestApp, tally};

crate::on_every_backend!(
    two_thousand_buyers_racing_for_fifty_units_get_exactly_fifty_reservations,
    one_user_firing_two_hundred_orders_with_limit_one_gets_exactly_one,
    concurrent_retries_with_one_key_make_exactly_one_order,
    paying_canceling_and_expiring_at_once_leave_each_order_in_one_state_and_stock_exact,
);

async fn two_thousand_buyers_racing_for_fifty_units_get_exactly_fifty_reservations(app: TestApp) {
    let product = app.product(json!({"stock": 50})).await;

    let answers = join_all((1..=2000).map(|u| app.order(product, u))).await;

    let counts = tally(&answers);
    assert_eq!(
        counts,
        BTreeMap::from([("201".to_owned(), 50), ("409 sold_out".to_owned(), 1950)])
    );
    let winners: HashSet<i64> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| {
            assert_eq!(b["status"], "RESERVED");
            b["user_id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(winners.len(), 50);
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["stock"], 0);
    assert_eq!(p["stock_status"], "SOLD_OUT");
}

async fn one_user_firing_two_hundred_orders_with_limit_one_gets_exactly_one(app: TestApp) {
    let product = app
        .product(json!({"stock": 1000, "per_user_limit": 1}))
        .await;

    let answers = join_all((0..200).map(|_| app.order(product, 42))).await;

    assert_eq!(
        tally(&answers),
        BTreeMap::from([
            ("201".to_owned(), 1),
            ("409 purchase_limit_exceeded".to_owned(), 199)
        ])
    );
    assert_eq!(app.stock(product).await, 999);
    let (_, mine) = app.get("/me/orders", Some(&app.user(42))).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

async fn concurrent_retries_with_one_key_make_exactly_one_order(app: TestApp) {
    let product = app
        .product(json!({"stock": 100, "per_user_limit": 3}))
        .await;
    let body = json!({"quantity": 2});

    let answers =
        join_all((0..20).map(|_| app.order_with(product, 9, Some(body.clone()), Some("retry-me"))))
            .await;

    let counts = tally(&answers);
    assert_eq!(
        counts,
        BTreeMap::from([("200".to_owned(), 19), ("201".to_owned(), 1)])
    );
    let ids: HashSet<i64> = answers
        .iter()
        .map(|(_, b)| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.stock(product).await, 98);
}

async fn paying_canceling_and_expiring_at_once_leave_each_order_in_one_state_and_stock_exact(
    app: TestApp,
) {
    let product = app.product(json!({"stock": 20, "hold_seconds": 5})).await;
    let mut orders = Vec::new();
    for u in 1..=20 {
        orders.push((u, app.reserve(product, u).await));
    }
    for (u, id) in &orders[..10] {
        assert_eq!(app.pay(*id, *u, "early").await.0, StatusCode::OK);
    }
    app.state.clock.advance(Duration::from_secs(6));

    // Late payments race the sweeper; five paid orders are canceled meanwhile.
    let late = join_all(orders[10..].iter().map(|(u, id)| app.pay(*id, *u, "late")));
    let app = &app;
    let cancels = join_all(
        orders[..5]
            .iter()
            .map(|(u, id)| async move { app.cancel(*id, &app.user(*u)).await }),
    );
    let shop = app.state.shop();
    let sweep = dropline::shop::holds::expire_due(&shop);
    let (late, cancels, swept) = tokio::join!(late, cancels, sweep);

    swept.expect("sweep");
    assert!(late.iter().all(|(s, b)| *s == StatusCode::CONFLICT
        && b["error"]["code"] == "reservation_expired"));
    assert!(
        cancels
            .iter()
            .all(|(s, b)| *s == StatusCode::OK && b["status"] == "CANCELED")
    );
    let mut states = Vec::new();
    for (_, id) in &orders {
        states.push(app.order_status(*id).await);
    }
    let expected: Vec<&str> = [["CANCELED"; 5], ["PAID"; 5]]
        .concat()
        .into_iter()
        .chain(["EXPIRED"; 10])
        .collect();
    assert_eq!(states, expected);
    assert_eq!(app.stock(product).await, 15);
    // The gate got exactly those units back: 15 more buyers succeed, the 16th does not.
    let answers = join_all((100..116).map(|u| app.order(product, u))).await;
    let counts = tally(&answers);
    assert_eq!(
        counts,
        BTreeMap::from([("201".to_owned(), 15), ("409 sold_out".to_owned(), 1)])
    );
}
