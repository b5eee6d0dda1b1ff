//! Restock rounds against real orders: notified users buy through `POST /products/{id}/orders`
//! from the receiver, and the round stops the moment the stock is gone.

use dropline::auth::TokenKeys;
use dropline::tools::mock_receiver::{Hook, MockReceiver};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{
    SECRET, TestApp, Tuning, final_event, order_as_buyer, started_so_far, told, users,
};

crate::on_every_backend!(
    notified_users_who_buy_the_last_unit_end_the_round_before_anyone_else_is_notified,
    with_many_in_flight_buyers_sell_out_the_round_and_nothing_starts_after,
);

/// What the buyers saw: every order's status, and how many requests the engine had started
/// when the first buyer was told the product sold out.
#[derive(Default)]
struct Buyers {
    answers: Vec<(i64, StatusCode)>,
    started_when_sold_out: Option<i64>,
}

/// A hook under which every notified user places an order over HTTP before the receiver answers.
fn every_user_orders(app: &TestApp, product: i64, seen: Arc<Mutex<Buyers>>) -> Hook {
    let (base, client) = (app.addr.clone(), app.client.clone());
    let events = app.state.events.clone();
    let keys = TokenKeys::new(SECRET.as_bytes());
    Arc::new(move |arrival| {
        let (base, client, keys, seen) = (base.clone(), client.clone(), keys.clone(), seen.clone());
        let events = events.clone();
        Box::pin(async move {
            let user = arrival.notification.user_id;
            let (status, body) = order_as_buyer(&client, &base, &keys, product, user).await;
            let mut seen = seen.lock().unwrap();
            seen.answers.push((user, status));
            if status == StatusCode::CONFLICT
                && body["error"]["code"] == "sold_out"
                && seen.started_when_sold_out.is_none()
            {
                seen.started_when_sold_out = Some(started_so_far(&events, product, 1));
            }
        })
    })
}

async fn notified_users_who_buy_the_last_unit_end_the_round_before_anyone_else_is_notified(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let tuning = Tuning::concurrency(1);
    let (app, line, product) = app.notifying_a_line(&receiver, tuning, 60, 0).await;
    let seen = Arc::new(Mutex::new(Buyers::default()));
    receiver.set_hook(every_user_orders(&app, product, seen.clone()));

    let round = app.restock_and_wait(product, Some(10)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 10);
    assert_eq!(round["last_sent_user_id"], line[9]);
    let arrived = told(&receiver);
    assert_eq!(arrived, line[..10].to_vec());
    let answers = seen.lock().unwrap().answers.clone();
    assert_eq!(answers.len(), 10);
    assert!(
        answers.iter().all(|(_, s)| *s == StatusCode::CREATED),
        "{answers:?}"
    );
    assert_eq!(app.stock(product).await, 0);
    assert_eq!(app.recipients(product, 1, 100).await, line[..10].to_vec());
    // Buyers left the line; the rest still wait for the next restock.
    assert_eq!(app.line(product).await, line[10..].to_vec());
}

async fn with_many_in_flight_buyers_sell_out_the_round_and_nothing_starts_after(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(5));
    let app = app.notifying(&receiver, Tuning::default()).await;
    let mut progress = app.state.events.subscribe();
    let line = users(400);
    let product = app.product_with_line(0, &line, json!({})).await;
    let seen = Arc::new(Mutex::new(Buyers::default()));
    receiver.set_hook(every_user_orders(&app, product, seen.clone()));

    let round = app.restock_and_wait(product, Some(30)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    let (answers, started_when_sold_out) = {
        let seen = seen.lock().unwrap();
        (seen.answers.clone(), seen.started_when_sold_out)
    };
    let created = answers
        .iter()
        .filter(|(_, s)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 30, "the shop sold exactly what it stocked");
    assert_eq!(app.stock(product).await, 0);
    let arrivals = receiver.arrivals();
    assert!(arrivals.len() < line.len(), "the round stopped early");
    assert_eq!(round["notified_count"], arrivals.len() as i64);
    // Someone was told sold out only after the stock reached 0; requests already in flight
    // then may still land, but the engine started none after it.
    let started = final_event(&mut progress, product, 1).started_count;
    let started_when_sold_out = started_when_sold_out.expect("a late buyer was told sold_out");
    assert_eq!(
        started, started_when_sold_out,
        "requests started after the stock reached 0"
    );
    assert_eq!(arrivals.len() as i64, started);
    assert_eq!(
        app.recipients(product, 1, 1000).await,
        line[..arrivals.len()].to_vec()
    );
}
