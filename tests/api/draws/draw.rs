//! The draw: ranks from the revealed seed, winners whose whole quantity fits, their orders and
//! notifications, the published digest, and the draw after downtime.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use super::{expected_draw, sha};
use crate::helpers::{TestApp, Tuning, assert_error};

crate::on_every_backend!(
    the_draw_ranks_by_the_revealed_seed_and_passes_over_entries_that_do_not_fit,
    winners_get_reserved_orders_they_pay_and_one_notification_each_in_rank_order,
    a_draw_whose_window_ended_while_the_server_was_down_runs_at_the_next_start,
    restock_notifications_carry_their_kind,
);

/// Users and quantities that make some entries not fit in 6 units whatever the ranks.
const ENTRIES: &[(i64, i64)] = &[
    (11, 3),
    (12, 1),
    (13, 2),
    (14, 3),
    (15, 1),
    (16, 2),
    (17, 3),
    (18, 1),
    (19, 2),
    (20, 3),
];

async fn enter_all(app: &TestApp, product: i64) {
    for (user, quantity) in ENTRIES {
        app.entered(product, *user, *quantity).await;
    }
}

async fn the_draw_ranks_by_the_revealed_seed_and_passes_over_entries_that_do_not_fit(app: TestApp) {
    let product = app.draw_product(6, json!({"per_user_limit": 3})).await;
    enter_all(&app, product).await;
    app.entered(product, 21, 1).await;
    assert_eq!(app.withdraw(product, 21).await.0, StatusCode::NO_CONTENT);
    assert_eq!(
        app.draw_step().await.draws,
        0,
        "not due before the window ends"
    );

    app.close_windows();
    let done = app.draw_step().await;

    assert_eq!(done.draws, 1);
    let draw = app.draw(product).await;
    assert_eq!(draw["status"], "DRAWN");
    let seed = draw["seed"].as_str().expect("seed revealed").to_owned();
    assert_eq!(seed.len(), 64);
    assert_eq!(sha(&seed), draw["seed_hash"].as_str().unwrap());
    assert!(draw["drawn_at"].is_string());
    assert_eq!(draw["entries"], ENTRIES.len());
    assert_eq!(draw["units"], 6);
    let mut by_user = ENTRIES.to_vec();
    by_user.sort();
    let lines: String = by_user.iter().map(|(u, q)| format!("{u}:{q}\n")).collect();
    assert_eq!(draw["entries_digest"], sha(&lines).as_str());

    let (ranked, winners) = expected_draw(&seed, ENTRIES, 6);
    let listed = app.draw_entries(product, 3).await;
    let listed_users: Vec<i64> = listed
        .iter()
        .map(|e| e["user_id"].as_i64().unwrap())
        .collect();
    let mut expected_users = ranked.clone();
    expected_users.push(21);
    assert_eq!(
        listed_users, expected_users,
        "by rank, the withdrawn entry last"
    );
    for (i, e) in listed.iter().take(ranked.len()).enumerate() {
        assert_eq!(e["rank"], i as i64 + 1, "{e}");
        let user = e["user_id"].as_i64().unwrap();
        if winners.contains(&user) {
            assert_eq!(e["status"], "WON", "{e}");
            assert!(e["order_id"].is_i64(), "{e}");
        } else {
            assert_eq!(e["status"], "WAITLISTED", "{e}");
            assert!(e["order_id"].is_null(), "{e}");
        }
    }
    let withdrawn = listed.last().unwrap();
    assert_eq!(withdrawn["status"], "WITHDRAWN");
    assert!(withdrawn["rank"].is_null());
    // The walk passes over what does not fit: the units given equal the winners' quantities.
    let won_units: i64 = ENTRIES
        .iter()
        .filter(|(u, _)| winners.contains(u))
        .map(|(_, q)| q)
        .sum();
    assert!(won_units <= 6);
    assert_eq!(app.stock(product).await, 6 - won_units);
    assert_eq!(
        app.state
            .gate
            .level(dropline::domain::ids::ProductId::from_db(product))
            .available,
        6 - won_units
    );
    // It runs once.
    app.state.clock.advance(Duration::from_secs(10));
    assert_eq!(app.draw_step().await.draws, 0);
    assert_eq!(app.draw_entries(product, 100).await, listed);
}

async fn winners_get_reserved_orders_they_pay_and_one_notification_each_in_rank_order(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app
        .draw_product(6, json!({"per_user_limit": 3, "hold_seconds": 600}))
        .await;
    enter_all(&app, product).await;

    app.close_windows();
    app.draw_step().await;

    let seed = app.draw(product).await["seed"].as_str().unwrap().to_owned();
    let (_, winners) = expected_draw(&seed, ENTRIES, 6);
    let arrivals = receiver.arrivals();
    let notified: Vec<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(
        notified, winners,
        "one notification per winner, in rank order"
    );
    for (a, user) in arrivals.iter().zip(&winners) {
        let orders = app.orders_of(*user).await;
        assert_eq!(orders.len(), 1);
        let order = &orders[0];
        assert_eq!(order["status"], "RESERVED");
        assert_eq!(order["product_id"], product);
        let quantity = ENTRIES.iter().find(|(u, _)| u == user).unwrap().1;
        assert_eq!(order["quantity"], quantity);
        let body: Value = serde_json::from_slice(&a.body).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = keys;
        keys.sort();
        assert_eq!(
            keys,
            [
                "expires_at",
                "kind",
                "order_id",
                "product_id",
                "quantity",
                "sent_at",
                "user_id"
            ]
        );
        assert_eq!(body["kind"], "draw_won");
        assert_eq!(body["product_id"], product);
        assert_eq!(body["user_id"], *user);
        assert_eq!(body["order_id"], order["id"]);
        assert_eq!(body["quantity"], quantity);
        assert_eq!(body["expires_at"], order["expires_at"]);
        assert_eq!(
            a.idempotency_key.as_deref(),
            Some(format!("draw-{product}-{}", order["id"]).as_str())
        );
    }
    for (user, _) in ENTRIES.iter().filter(|(u, _)| !winners.contains(u)) {
        assert!(app.orders_of(*user).await.is_empty(), "user {user}");
        let got = app.order(product, *user).await;
        assert_error(&got, StatusCode::CONFLICT, "draw_only");
    }
    // A winner pays as for any order; the hold applies.
    let first = winners[0];
    let order = app.orders_of(first).await[0]["id"].as_i64().unwrap();
    let (s, paid) = app.pay(order, first, "pg-1").await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "PAID");
    let (_, mine) = app.get("/me/entries", Some(&app.user(first))).await;
    assert_eq!(mine["items"][0]["status"], "WON");
    assert_eq!(mine["items"][0]["order_id"], order);
    // Nothing is sent twice.
    app.draw_step().await;
    assert_eq!(receiver.count(), winners.len());
}

async fn a_draw_whose_window_ended_while_the_server_was_down_runs_at_the_next_start(
    mut app: TestApp,
) {
    let product = app.draw_product(2, json!({})).await;
    for user in [1, 2, 3, 4] {
        app.entered(product, user, 1).await;
    }

    app.stop().await;
    app.close_windows();
    let app = app.restart().await;
    app.draw_step().await;

    let draw = app.draw(product).await;
    assert_eq!(draw["status"], "DRAWN");
    let seed = draw["seed"].as_str().unwrap();
    let entries: Vec<(i64, i64)> = [1, 2, 3, 4].iter().map(|u| (*u, 1)).collect();
    let (_, winners) = expected_draw(seed, &entries, 2);
    for user in [1, 2, 3, 4] {
        let orders = app.orders_of(user).await;
        assert_eq!(
            orders.len(),
            usize::from(winners.contains(&user)),
            "user {user}"
        );
    }
    assert_eq!(app.stock(product).await, 0);
}

async fn restock_notifications_carry_their_kind(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.product_with_line(0, &[5], json!({})).await;

    app.restock_and_wait(product, Some(1)).await;

    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 1);
    let body: Value = serde_json::from_slice(&arrivals[0].body).unwrap();
    assert_eq!(body["kind"], "restock");
    assert_eq!(body["user_id"], 5);
    assert_eq!(body["round"], 1);
}
