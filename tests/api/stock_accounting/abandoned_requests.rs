//! Buyers and operators who close the connection right after sending, at random moments.

use dropline::tools::mock_receiver::MockReceiver;
use futures::future::join_all;
use serde_json::json;
use std::sync::Arc;

use crate::helpers::{Buyer, TestApp, Tuning, abandon, assert_accounted, settled, signal_at, told};

crate::on_every_backend!(
    abandoned_orders_leave_the_gate_equal_to_the_database,
    abandoned_cancels_and_payments_are_fully_accounted,
    an_abandoned_restock_still_starts_its_round,
);

/// The same cases on several instances sharing one database and Redis.
mod instances {
    use super::*;
    crate::on_every_cluster!(abandoned_orders_on_every_instance_strand_no_stock);
}

/// One buyer per user id orders `product` over the instances in turn and gives up at once.
async fn abandon_orders(apps: &[TestApp], product: i64, buyers: std::ops::Range<i64>) {
    join_all(buyers.map(|u| {
        let app = &apps[u as usize % apps.len()];
        let token = app.user(u);
        async move {
            let path = format!("/products/{product}/orders");
            abandon(app, "POST", &path, &token, "", 3).await;
        }
    }))
    .await;
}

/// 100 buyers give up right after sending; then a restocked unit is bought by the first
/// person the round notifies, and the round stops there: nobody else is notified.
async fn abandoned_orders_leave_the_gate_equal_to_the_database(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 300, 100)
        .await;
    let baseline = app.state.tasks.len();

    abandon_orders(std::slice::from_ref(&app), product, 5_000_000..5_000_100).await;
    settled(&app, product, baseline).await;
    assert_accounted(&app, product, 100).await;

    // Sell what is left through the API, so the round starts on a sold-out product.
    let left = app.stock(product).await;
    for i in 0..left {
        assert_eq!(app.order(product, 6_000_000 + i).await.0, 201);
    }
    // The first person notified buys the restocked unit before answering the alert.
    let buyer = Buyer::of(&app);
    receiver.set_hook(Arc::new(move |arrival| {
        let buyer = buyer.clone();
        Box::pin(async move {
            buyer.order(product, arrival.notification.user_id).await;
        })
    }));
    let round = app.restock_and_wait(product, Some(1)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT", "{round}");
    assert_eq!(round["notified_count"], 1);
    let arrived = told(&receiver);
    assert_eq!(
        arrived,
        line[..1].to_vec(),
        "no notification after the sale"
    );
    assert_accounted(&app, product, 101).await;
}

/// Cancels and payments abandoned at random moments still return (or keep) every unit.
async fn abandoned_cancels_and_payments_are_fully_accounted(app: TestApp) {
    let product = app
        .product(json!({ "stock": 40, "per_user_limit": 1 }))
        .await;
    let mut orders = Vec::new();
    for u in 1..=40 {
        orders.push((u, app.reserve(product, u).await));
    }
    let baseline = app.state.tasks.len();
    join_all(orders.iter().map(|(u, order)| {
        let app = &app;
        let token = app.user(*u);
        async move {
            if u % 2 == 0 {
                abandon(
                    app,
                    "POST",
                    &format!("/orders/{order}/cancel"),
                    &token,
                    "",
                    3,
                )
                .await;
            } else {
                let body = json!({ "payment_ref": format!("pay-{u}") }).to_string();
                abandon(
                    app,
                    "POST",
                    &format!("/orders/{order}/pay"),
                    &token,
                    &body,
                    3,
                )
                .await;
            }
        }
    }))
    .await;
    settled(&app, product, baseline).await;
    assert_accounted(&app, product, 40).await;
    // Whatever committed is visible, and the rest can be done again with the same outcome.
    for (u, order) in &orders {
        if u % 2 == 0 {
            assert_eq!(app.cancel(*order, &app.user(*u)).await.0, 200);
        } else {
            assert_eq!(app.pay(*order, *u, &format!("pay-{u}")).await.0, 200);
        }
    }
    assert_accounted(&app, product, 40).await;
    assert_eq!(app.stock(product).await, 20);
}

/// An operator who gives up on `?wait=true` while the round sends: the request's future is
/// dropped mid-round, and the round still runs to its end with the stock in the gate.
async fn an_abandoned_restock_still_starts_its_round(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 50, 0)
        .await;
    let baseline = app.state.tasks.len();
    let first = signal_at(&receiver, 1);
    let addr = app.addr.trim_start_matches("http://").to_owned();
    let mut socket = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = r#"{"quantity": 5}"#;
    let request = format!(
        "POST /products/{product}/notifications/re-stock?wait=true HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        app.admin(),
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut socket, request.as_bytes())
        .await
        .unwrap();
    first.notified().await;
    drop(socket);

    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "COMPLETED", "{round}");
    assert_eq!(round["notified_count"], 50);
    assert_eq!(app.recipients(product, 1, 100).await, line);
    settled(&app, product, baseline).await;
    assert_accounted(&app, product, 5).await;
    for u in 0..5 {
        assert_eq!(app.order(product, 7_000_000 + u).await.0, 201);
    }
    assert_eq!(
        app.order(product, 7_000_100).await.1["error"]["code"],
        "sold_out"
    );
}

/// Two or three instances over one database and Redis: abandoned orders on every instance
/// strand nothing; the product then sells out exactly.
async fn abandoned_orders_on_every_instance_strand_no_stock(apps: Vec<TestApp>) {
    let product = apps[0].product(json!({ "stock": 100 })).await;
    let baselines: Vec<usize> = apps.iter().map(|a| a.state.tasks.len()).collect();
    abandon_orders(&apps, product, 8_000_000..8_000_150).await;
    for (app, base) in apps.iter().zip(&baselines) {
        settled(app, product, *base).await;
    }
    for app in &apps {
        assert_accounted(app, product, 100).await;
    }
    let left = apps[0].stock(product).await;
    let answers = join_all((0..left + 20).map(|i| {
        let app = &apps[i as usize % apps.len()];
        async move { app.order(product, 9_000_000 + i).await.0 }
    }))
    .await;
    let sold = answers.iter().filter(|s| s.as_u16() == 201).count() as i64;
    assert_eq!(sold, left, "every unit left sells, no more");
    for app in &apps {
        assert_accounted(app, product, 100).await;
    }
}
