//! The waiting room over three instances on one database and one Redis: joins, orders and
//! leaving go through one instance, the admitting step of any instance passes the turn on,
//! and the stream watched on a third tells the waiter; admissions keep to the stock and to
//! `admit_rate` per sliding second over all instances together.

use chrono::DateTime;
use dropline::domain::ids::ProductId;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{EventStream, TestApp};
use crate::queue::counts;

crate::on_every_cluster!(
    the_turn_passes_across_instances_and_never_past_the_stock,
    admissions_over_three_instances_keep_to_the_rate,
);

/// A queued product of `stock` created through the second instance, its sale in
/// `queue::STARTS_IN`; `extra` is merged over the body.
async fn room_everyone_knows(apps: &[TestApp], stock: i64, extra: Value) -> i64 {
    let id = apps[1].queued_product(stock, extra).await;
    for app in apps {
        app.state
            .gate
            .refresh(ProductId::from_db(id))
            .await
            .expect("the gate learns the product");
    }
    id
}

/// Starts the sale on every instance's clock.
fn start_everywhere(apps: &[TestApp]) {
    for app in apps {
        app.start_sale();
    }
}

/// Reads standing events until one has `state`.
async fn state_reaches(stream: &mut EventStream, state: &str) {
    while stream.next_standing().await["state"] != state {}
}

async fn the_turn_passes_across_instances_and_never_past_the_stock(apps: Vec<TestApp>) {
    let id = room_everyone_knows(&apps, 3, json!({})).await;
    let users: Vec<i64> = (1..=10).collect();
    for (i, u) in users.iter().enumerate() {
        apps[i % 3].joined(id, &[*u]).await;
    }
    let order = apps[0].in_queue_order(id).await;
    let mut third = apps[2].queue_events(id, order[2]).await;
    let mut fourth = apps[2].queue_events(id, order[3]).await;
    let mut last = apps[1].queue_events(id, order[9]).await;
    start_everywhere(&apps);
    state_reaches(&mut third, "ADMITTED").await;
    // Every instance steps the room: the fourth stays waiting while three admissions hold
    // the three units.
    for app in &apps {
        app.queue_step().await;
    }
    assert_eq!(counts(&apps[0].queue_counts(id).await), [7, 3, 0, 0, 0, 0]);
    assert_eq!(
        apps[1].standing(id, order[3]).await.1,
        json!({"state": "WAITING", "place": 1, "units_ahead": 3})
    );
    // An order through one instance and leaving through another: one unit passes on.
    assert_eq!(apps[1].order(id, order[0]).await.0, StatusCode::CREATED);
    for app in &apps {
        app.queue_step().await;
    }
    assert_eq!(apps[2].queue_state(id, order[3]).await, "WAITING");
    assert_eq!(
        apps[0].leave_queue(id, order[1]).await.0,
        StatusCode::NO_CONTENT
    );
    state_reaches(&mut fourth, "ADMITTED").await;
    // The last units go through two instances: the waiter watched on a third is told.
    assert_eq!(apps[0].order(id, order[2]).await.0, StatusCode::CREATED);
    assert_eq!(apps[1].order(id, order[3]).await.0, StatusCode::CREATED);
    state_reaches(&mut last, "SOLD_OUT").await;
    for app in &apps {
        app.queue_step().await;
    }
    assert_eq!(counts(&apps[2].queue_counts(id).await), [0, 0, 3, 0, 1, 6]);
    assert_eq!(apps[2].stock(id).await, 0);
}

async fn admissions_over_three_instances_keep_to_the_rate(apps: Vec<TestApp>) {
    let rate = 4;
    let id = room_everyone_knows(
        &apps,
        100,
        json!({"queue": {"enabled": true, "admit_rate": rate, "admit_seconds": 30}}),
    )
    .await;
    let users: Vec<i64> = (1..=24).collect();
    for (i, u) in users.iter().enumerate() {
        apps[i % 3].joined(id, &[*u]).await;
    }
    let order = apps[0].in_queue_order(id).await;
    let mut last = apps[2].queue_events(id, order[23]).await;
    start_everywhere(&apps);
    // Every instance's background step admits; the last is admitted after 24 / 4 seconds.
    state_reaches(&mut last, "ADMITTED").await;
    let members = apps[1].queue_members(id, 50).await;
    let mut at: Vec<i64> = members
        .iter()
        .map(|m| {
            let until = m["admitted_until"].as_str().expect("admitted");
            DateTime::parse_from_rfc3339(until)
                .unwrap()
                .timestamp_millis()
                - 30_000
        })
        .collect();
    at.sort_unstable();
    for (i, t) in at.iter().enumerate() {
        let in_second = at[i..].iter().take_while(|u| **u < t + 1000).count();
        assert!(
            in_second <= rate as usize,
            "{in_second} admissions in the second from {t}: {at:?}"
        );
    }
}
