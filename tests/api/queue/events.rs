//! The waiting room's event stream: each change of one's standing, as the answer of
//! `GET /products/{id}/queue` gives it, reaches the stream; the stream is for members of a
//! room; sell-out reaches every stream within 2 s and expiry or leaving passes the turn on
//! within 1 s (the background step, every 200 ms); a heartbeat keeps a quiet stream alive.

use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

use super::{counts, standing_reaches};
use crate::helpers::{EventStream, TestApp, assert_error};

crate::on_every_backend!(
    the_stream_pushes_each_change_of_the_standing,
    the_stream_is_for_members_of_a_room,
    sell_out_reaches_every_stream_within_2_s,
    expiry_and_leaving_pass_the_turn_on_within_1_s,
    a_quiet_stream_gets_a_heartbeat,
);

async fn the_stream_pushes_each_change_of_the_standing(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1, 2, 3]).await;
    let order = app.in_queue_order(id).await;
    let mut last = app.queue_events(id, order[2]).await;
    assert_eq!(
        last.next_standing().await,
        json!({"state": "WAITING_FOR_OPEN"})
    );
    app.start_sale();
    app.queue_step().await;
    // The first holds the only unit; one waiter is ahead.
    let want = json!({"state": "WAITING", "place": 2, "units_ahead": 2});
    standing_reaches(&mut last, &want).await;
    assert_eq!(app.standing(id, order[2]).await.1, want);

    assert_eq!(
        app.leave_queue(id, order[0]).await.0,
        StatusCode::NO_CONTENT
    );
    app.queue_step().await;
    let want = json!({"state": "WAITING", "place": 1, "units_ahead": 1});
    standing_reaches(&mut last, &want).await;
    assert_eq!(app.standing(id, order[2]).await.1, want);

    let mut second = app.queue_events(id, order[1]).await;
    let admitted = second.next_standing().await;
    assert_eq!(admitted["state"], "ADMITTED", "{admitted}");
    assert_eq!(admitted, app.standing(id, order[1]).await.1);
    assert_eq!(app.order(id, order[1]).await.0, StatusCode::CREATED);
    standing_reaches(&mut second, &json!({"state": "ORDERED"})).await;
    // The last unit went and no admission is open: a read of the room says SOLD_OUT (the
    // unit tests of `live.rs` show it does before any step marks the rows).
    app.refresh_rooms().await;
    standing_reaches(&mut last, &json!({"state": "SOLD_OUT"})).await;
    app.queue_step().await;
    assert_eq!(counts(&app.queue_counts(id).await)[0], 0);
    assert_eq!(
        app.standing(id, order[2]).await.1,
        json!({"state": "SOLD_OUT"})
    );
}

async fn the_stream_is_for_members_of_a_room(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1]).await;
    let path = format!("/products/{id}/queue/events");
    let no_token = app.get_authorized(&path, "").await;
    assert_eq!(no_token.status(), StatusCode::UNAUTHORIZED);
    let (s, b) = app
        .get(&format!("{path}?token={}", app.admin()), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    let (s, b) = app
        .get(&format!("{path}?token={}", app.user(2)), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = app
        .get(
            &format!("/products/999999/queue/events?token={}", app.user(1)),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let plain = app.product(json!({})).await;
    assert_error(
        &app.get(
            &format!("/products/{plain}/queue/events?token={}", app.user(1)),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_queued",
    );
    // The usual bearer header opens it too.
    let resp = app
        .get_authorized(&path, &format!("Bearer {}", app.user(1)))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = EventStream::from_response(resp);
    assert_eq!(
        stream.next_standing().await,
        json!({"state": "WAITING_FOR_OPEN"})
    );
}

async fn sell_out_reaches_every_stream_within_2_s(app: TestApp) {
    let id = app.queued_product(2, json!({})).await;
    let users: Vec<i64> = (1..=20).collect();
    app.joined(id, &users).await;
    let order = app.in_queue_order(id).await;
    let mut streams = Vec::new();
    for u in &order {
        let mut s = app.queue_events(id, *u).await;
        assert_eq!(s.next_standing().await["state"], "WAITING_FOR_OPEN");
        streams.push(s);
    }
    app.start_sale();
    // The background step admits the first two; each buys the unit it was admitted for.
    for (u, s) in order.iter().zip(&mut streams).take(2) {
        state_reaches(s, "ADMITTED").await;
        assert_eq!(app.order(id, *u).await.0, StatusCode::CREATED);
    }
    let gone = Instant::now();
    for (u, s) in order.iter().zip(&mut streams).skip(2) {
        loop {
            let left = Duration::from_secs(2).saturating_sub(gone.elapsed());
            let Some((name, data)) = s.next_within(left).await else {
                panic!("user {u} was not told SOLD_OUT within 2 s of the last unit going");
            };
            if name == "standing" && data["state"] == "SOLD_OUT" {
                break;
            }
        }
    }
    assert_eq!(
        super::counts(&app.queue_counts(id).await),
        [0, 0, 2, 0, 0, 18]
    );
}

async fn expiry_and_leaving_pass_the_turn_on_within_1_s(app: TestApp) {
    let id = app
        .queued_product(1, json!({"queue": {"enabled": true, "admit_seconds": 30}}))
        .await;
    app.joined(id, &[1, 2, 3]).await;
    let order = app.in_queue_order(id).await;
    let mut streams = Vec::new();
    for u in &order {
        streams.push(app.queue_events(id, *u).await);
    }
    app.start_sale();
    state_reaches(&mut streams[0], "ADMITTED").await;
    // The admission's time passes: the next one is admitted within 1 s.
    app.state.clock.advance(Duration::from_secs(31));
    tokio::time::timeout(
        Duration::from_secs(1),
        state_reaches(&mut streams[1], "ADMITTED"),
    )
    .await
    .expect("an expired admission passed the turn on within 1 s");
    assert_eq!(app.queue_state(id, order[0]).await, "EXPIRED");
    // Leaving gives it up: the next one is admitted within 1 s.
    assert_eq!(
        app.leave_queue(id, order[1]).await.0,
        StatusCode::NO_CONTENT
    );
    tokio::time::timeout(
        Duration::from_secs(1),
        state_reaches(&mut streams[2], "ADMITTED"),
    )
    .await
    .expect("leaving passed the turn on within 1 s");
    assert_eq!(app.queue_state(id, order[1]).await, "LEFT");
}

/// Reads standing events until one has `state`.
async fn state_reaches(stream: &mut EventStream, state: &str) {
    while stream.next_standing().await["state"] != state {}
}

async fn a_quiet_stream_gets_a_heartbeat(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1]).await;
    let mut stream = app.queue_events(id, 1).await;
    assert_eq!(stream.next().await.0, "standing");
    let (name, _) = stream
        .next_within(Duration::from_secs(20))
        .await
        .expect("a heartbeat within 20 s");
    assert_eq!(name, "heartbeat");
}
