//! Stock-aware admission: open admissions never hold more than the free units, orders need
//! an open admission and use it, expiry and leaving pass the turn on at the next step, the
//! rate caps admissions a second, and sell-out reaches every waiter.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use super::{counts, states};
use crate::helpers::{TestApp, assert_error};

crate::on_every_backend!(
    admission_stops_once_open_admissions_hold_every_free_unit,
    an_order_needs_an_open_admission_and_uses_it,
    an_expired_admission_passes_the_turn_on_at_the_next_step,
    leaving_gives_the_admission_up_to_the_next_waiter,
    no_more_than_admit_rate_are_admitted_a_second,
    sell_out_reaches_every_waiter_and_closes_the_room,
);

/// The room's members in its order.
async fn in_order(app: &TestApp, product: i64) -> Vec<i64> {
    app.queue_members(product, 50)
        .await
        .iter()
        .map(|m: &Value| m["user_id"].as_i64().unwrap())
        .collect()
}

async fn admission_stops_once_open_admissions_hold_every_free_unit(app: TestApp) {
    // Three units and a limit of two: the second admission may find only one unit left.
    let id = app.queued_product(3, json!({"per_user_limit": 2})).await;
    app.joined(id, &[1, 2, 3, 4]).await;
    // Nothing is admitted before the sale starts.
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await), [4, 0, 0, 0, 0, 0]);
    app.start_sale();
    app.queue_step().await;
    app.queue_step().await;
    let order = in_order(&app, id).await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["ADMITTED", "ADMITTED", "WAITING", "WAITING"])
    );
    assert_eq!(counts(&app.queue_counts(id).await), [2, 2, 0, 0, 0, 0]);
    // The first orders two units: one is left, held by the second admission.
    let (s, b) = app
        .order_with(id, order[0], Some(json!({"quantity": 2})), None)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await), [2, 1, 1, 0, 0, 0]);
}

async fn an_order_needs_an_open_admission_and_uses_it(app: TestApp) {
    let id = app.queued_product(5, json!({"per_user_limit": 1})).await;
    app.joined(id, &[1]).await;
    // A waiter not yet admitted (the sale has not started) and a stranger to the room may
    // not order.
    assert_error(
        &app.order(id, 1).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    );
    app.start_sale();
    assert_error(
        &app.order(id, 99).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    );
    app.queue_step().await;
    assert_eq!(app.queue_state(id, 1).await, "ADMITTED");
    let (s, b) = app.order(id, 1).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(app.queue_state(id, 1).await, "ORDERED");
    // The admission is used: another order needs another admission.
    assert_error(
        &app.order(id, 1).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    );
    assert_eq!(app.stock(id).await, 4);
    // A product without a room takes orders as before.
    let plain = app.product(json!({})).await;
    assert_eq!(app.order(plain, 1).await.0, StatusCode::CREATED);
}

async fn an_expired_admission_passes_the_turn_on_at_the_next_step(app: TestApp) {
    let id = app
        .queued_product(1, json!({"queue": {"enabled": true, "admit_seconds": 30}}))
        .await;
    app.joined(id, &[1, 2]).await;
    app.start_sale();
    app.queue_step().await;
    let order = in_order(&app, id).await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["ADMITTED", "WAITING"])
    );
    app.state.clock.advance(Duration::from_secs(31));
    // Past its time the admission reads EXPIRED and no longer buys.
    assert_eq!(app.queue_state(id, order[0]).await, "EXPIRED");
    assert_error(
        &app.order(id, order[0]).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    );
    app.queue_step().await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["EXPIRED", "ADMITTED"])
    );
    assert_eq!(app.order(id, order[1]).await.0, StatusCode::CREATED);
    assert_eq!(counts(&app.queue_counts(id).await), [0, 0, 1, 1, 0, 0]);
}

async fn leaving_gives_the_admission_up_to_the_next_waiter(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1, 2, 3]).await;
    app.start_sale();
    app.queue_step().await;
    let order = in_order(&app, id).await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["ADMITTED", "WAITING", "WAITING"])
    );
    assert_eq!(
        app.leave_queue(id, order[0]).await.0,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.order(id, order[0]).await,
        StatusCode::FORBIDDEN,
        "admission_required",
    );
    app.queue_step().await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["LEFT", "ADMITTED", "WAITING"])
    );
}

async fn no_more_than_admit_rate_are_admitted_a_second(app: TestApp) {
    let id = app
        .queued_product(10, json!({"queue": {"enabled": true, "admit_rate": 2}}))
        .await;
    app.joined(id, &[1, 2, 3, 4, 5]).await;
    app.start_sale();
    app.queue_step().await;
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await)[1], 2);
    app.state.clock.advance(Duration::from_secs(1));
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await)[1], 4);
    app.state.clock.advance(Duration::from_secs(1));
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await), [0, 5, 0, 0, 0, 0]);
}

async fn sell_out_reaches_every_waiter_and_closes_the_room(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1, 2, 3]).await;
    app.start_sale();
    app.queue_step().await;
    let order = in_order(&app, id).await;
    assert_eq!(app.order(id, order[0]).await.0, StatusCode::CREATED);
    // The last unit went with no admission open: the waiters hear SOLD_OUT at once (from
    // the stock, even before a step marks their rows).
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["ORDERED", "SOLD_OUT", "SOLD_OUT"])
    );
    app.queue_step().await;
    assert_eq!(
        app.queue_states(id, &order).await,
        states(&["ORDERED", "SOLD_OUT", "SOLD_OUT"])
    );
    assert_eq!(counts(&app.queue_counts(id).await), [0, 0, 1, 0, 0, 2]);
    assert_error(
        &app.join_queue(id, 4).await,
        StatusCode::CONFLICT,
        "queue_closed",
    );
    // Those already in the room keep their answer.
    let (s, b) = app.join_queue(id, order[1]).await;
    assert_eq!((s, b), (StatusCode::OK, json!({"state": "SOLD_OUT"})));
}
