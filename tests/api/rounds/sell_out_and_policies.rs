//! Restock rounds against the stock: stopping at sell-out and the line policies.

use dropline::domain::ids::ProductId;
use dropline::domain::round::RoundStatus;
use dropline::tools::mock_receiver::MockReceiver;
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

use crate::helpers::{
    TestApp, Tuning, checkpoints_at, every_user_buys, final_event, started_so_far, told, users,
};

crate::on_every_backend!(
    a_round_stops_when_the_stock_sells_out_and_notifies_nobody_after,
    with_many_in_flight_no_request_starts_after_the_stock_reached_zero,
    a_round_opened_on_stock_that_is_already_gone_notifies_nobody,
    rotate_starts_each_round_with_the_first_person_the_last_one_missed,
    restart_starts_every_round_at_the_front_of_the_line,
    an_order_still_being_committed_pauses_the_round_and_its_failure_lets_it_go_on,
);

async fn a_round_stops_when_the_stock_sells_out_and_notifies_nobody_after(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 100, 0)
        .await;
    receiver.set_hook(every_user_buys(app.state.gate.clone(), product));

    let round = app.restock_and_wait(product, Some(10)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 10);
    assert_eq!(round["last_sent_user_id"], line[9]);
    assert!(round["finished_at"].is_string());
    assert_eq!(app.recipients(product, 1, 1000).await, line[..10].to_vec());
    let arrived = told(&receiver);
    assert_eq!(arrived, line[..10].to_vec());
}

async fn with_many_in_flight_no_request_starts_after_the_stock_reached_zero(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 400, 0)
        .await;
    // Every notified user buys; the buyer who takes the last unit reads how many requests
    // the engine had started by then.
    let (gate, events) = (app.state.gate.clone(), app.state.events.clone());
    let mut progress = events.subscribe();
    let started_at_sell_out: Arc<Mutex<Option<i64>>> = Arc::default();
    let seen = started_at_sell_out.clone();
    let pid = ProductId::from_db(product);
    receiver.set_hook(Arc::new(move |_| {
        let (gate, events, seen) = (gate.clone(), events.clone(), seen.clone());
        Box::pin(async move {
            if let Some(hold) = gate.try_take(pid, 1) {
                hold.commit();
                if gate.level(pid).available == 0 {
                    let mut seen = seen.lock().unwrap();
                    if seen.is_none() {
                        *seen = Some(started_so_far(&events, product, 1));
                    }
                }
            }
        })
    }));

    let round = app.restock_and_wait(product, Some(50)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    let started = final_event(&mut progress, product, 1).started_count;
    let at_sell_out = started_at_sell_out.lock().unwrap().expect("sold out");
    // Requests already in flight when the last unit went may still land; nothing new starts.
    assert_eq!(
        started, at_sell_out,
        "requests started after the stock reached 0"
    );
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len() as i64, started);
    assert!(arrivals.len() >= 50, "{}", arrivals.len());
    let notified = app.recipients(product, 1, 1000).await;
    assert_eq!(notified.len(), arrivals.len());
    assert_eq!(round["notified_count"], arrivals.len() as i64);
    assert_eq!(notified, line[..notified.len()].to_vec());
}

async fn a_round_opened_on_stock_that_is_already_gone_notifies_nobody(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.product_with_line(3, &users(20), json!({})).await;
    // The gate already sold the units, the database row has not caught up yet.
    app.state
        .gate
        .try_take(ProductId::from_db(product), 3)
        .unwrap()
        .commit();

    let round = app.restock_and_wait(product, None).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 0);
    assert!(round["last_sent_user_id"].is_null());
    assert_eq!(receiver.count(), 0);
}

async fn rotate_starts_each_round_with_the_first_person_the_last_one_missed(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::concurrency(1)).await;
    let line = users(10);
    let product = app
        .product_with_line(0, &line, json!({ "line_policy": "rotate" }))
        .await;
    receiver.set_hook(every_user_buys(app.state.gate.clone(), product));

    let first = app.restock_and_wait(product, Some(3)).await;
    let second = app.restock_and_wait(product, Some(3)).await;
    let third = app.restock_and_wait(product, Some(5)).await;

    for r in [&first, &second, &third] {
        assert_eq!(r["status"], "CANCELED_BY_SOLD_OUT", "{r}");
    }
    assert_eq!(app.recipients(product, 1, 100).await, line[0..3].to_vec());
    assert_eq!(app.recipients(product, 2, 100).await, line[3..6].to_vec());
    let wrapped = vec![line[6], line[7], line[8], line[9], line[0]];
    assert_eq!(app.recipients(product, 3, 100).await, wrapped);
    assert_eq!(third["last_sent_user_id"], line[0]);
    // A round that reaches everyone stops just before where it started.
    let fourth = app.restock_and_wait(product, Some(100)).await;
    assert_eq!(fourth["status"], "COMPLETED");
    let mut expected = line[1..].to_vec();
    expected.push(line[0]);
    assert_eq!(app.recipients(product, 4, 3).await, expected);
    let distinct: HashSet<i64> = app.recipients(product, 4, 100).await.into_iter().collect();
    assert_eq!(distinct.len(), 10);
}

async fn restart_starts_every_round_at_the_front_of_the_line(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 10, 0)
        .await;
    receiver.set_hook(every_user_buys(app.state.gate.clone(), product));

    app.restock_and_wait(product, Some(3)).await;
    let second = app.restock_and_wait(product, Some(4)).await;

    assert_eq!(second["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(app.recipients(product, 1, 100).await, line[0..3].to_vec());
    assert_eq!(app.recipients(product, 2, 100).await, line[0..4].to_vec());
}

async fn an_order_still_being_committed_pauses_the_round_and_its_failure_lets_it_go_on(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 8, 0)
        .await;
    // The third notified user's order takes every unit left and is still being written.
    let (tx, rx) = oneshot::channel();
    let tx = Arc::new(Mutex::new(Some(tx)));
    let gate = app.state.gate.clone();
    let pid = ProductId::from_db(product);
    receiver.set_hook(Arc::new(move |arrival| {
        let (gate, tx) = (gate.clone(), tx.clone());
        Box::pin(async move {
            if arrival.seq == 3 {
                let left = gate.level(pid).available;
                let hold = gate.try_take(pid, left).expect("take the rest");
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(hold);
                }
            }
        })
    }));

    let mut progress = app.state.events.subscribe();
    let (s, _) = app
        .restock_as(product, Some(&app.admin()), Some(5), false)
        .await;
    assert_eq!(s.as_u16(), 202);
    let hold = rx.await.unwrap();
    assert!(!app.state.gate.level(pid).is_sold_out());
    // The round writes the third user, then waits for the order instead of ending or going
    // on: the two checkpoints after that write (a second apart) find nothing new, and nobody
    // else was notified.
    let at_third = checkpoints_at(&mut progress, product, 1, line[2], 3).await;
    assert!(
        at_third
            .iter()
            .all(|e| e.status == RoundStatus::InProgress && e.notified_count == 3),
        "{at_third:?}"
    );
    assert_eq!(app.round(product, 1).await["status"], "IN_PROGRESS");
    assert_eq!(receiver.count(), 3);
    // ...and when the order fails, its units come back and the round goes on.
    drop(hold);
    let round = app.settle(product, 1).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(app.recipients(product, 1, 100).await, line);
    let arrived = told(&receiver);
    assert_eq!(arrived, line);
}
