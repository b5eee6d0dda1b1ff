//! The waitlist: units of a canceled or expired win go to the next entries by rank whose
//! whole quantity fits, each with a new RESERVED order and a notification.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use super::expected_draw;
use crate::helpers::{TestApp, Tuning, told};

crate::on_every_backend!(
    units_of_a_canceled_win_go_to_the_next_entry_by_rank,
    units_of_expired_wins_go_down_the_waitlist_until_it_is_exhausted,
);

/// The order a user holds for the product (each user has at most one).
async fn order_of(app: &TestApp, user: i64) -> Option<i64> {
    app.orders_of(user)
        .await
        .first()
        .map(|o| o["id"].as_i64().unwrap())
}

async fn units_of_a_canceled_win_go_to_the_next_entry_by_rank(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.draw_product(2, json!({"per_user_limit": 2})).await;
    let entries = [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1)];
    let seed = drawn(&app, product, &entries).await;
    let (ranked, winners) = expected_draw(&seed, &entries, 2);
    assert_eq!(winners, ranked[..2]);

    let canceled = order_of(&app, ranked[0]).await.unwrap();
    let (s, b) = app.cancel(canceled, &app.user(ranked[0])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let done = app.draw_step().await;

    assert_eq!(done.wins, 1);
    let promoted = order_of(&app, ranked[2])
        .await
        .expect("the next by rank won");
    assert_eq!(app.order_status(promoted).await, "RESERVED");
    assert!(order_of(&app, ranked[3]).await.is_none());
    let notified = told(&receiver);
    assert_eq!(notified, [ranked[0], ranked[1], ranked[2]]);
    let last = receiver.arrivals().pop().unwrap();
    assert_eq!(
        last.idempotency_key.as_deref(),
        Some(format!("draw-{product}-{promoted}").as_str())
    );
    let listed = app.draw_entries(product, 100).await;
    let statuses: Vec<&str> = listed
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["WON", "WON", "WON", "WAITLISTED", "WAITLISTED"]);
    assert_eq!(listed[2]["order_id"], promoted);
    assert_eq!(app.stock(product).await, 0);
}

async fn units_of_expired_wins_go_down_the_waitlist_until_it_is_exhausted(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app
        .draw_product(3, json!({"per_user_limit": 3, "hold_seconds": 60}))
        .await;
    let entries = [(1, 2), (2, 2), (3, 1), (4, 3), (5, 1), (6, 2)];
    let seed = drawn(&app, product, &entries).await;
    let (ranked, winners) = expected_draw(&seed, &entries, 3);
    let quantity = |u: i64| entries.iter().find(|(x, _)| *x == u).unwrap().1;
    // Every hold passes at once: all 3 units come back and go down the rest of the waitlist.
    let waitlist: Vec<(i64, i64)> = ranked
        .iter()
        .filter(|u| !winners.contains(u))
        .map(|u| (*u, quantity(*u)))
        .collect();
    let mut left = 3;
    let mut promoted = Vec::new();
    for (u, q) in &waitlist {
        if *q <= left {
            left -= q;
            promoted.push(*u);
        }
    }

    app.state.clock.advance(Duration::from_secs(60));
    dropline::shop::holds::expire_all_due(&app.state.shop())
        .await
        .unwrap();
    app.draw_step().await;

    for u in &winners {
        let order = order_of(&app, *u).await.unwrap();
        assert_eq!(app.order_status(order).await, "EXPIRED");
    }
    for u in &promoted {
        let order = order_of(&app, *u).await.expect("promoted");
        assert_eq!(app.order_status(order).await, "RESERVED");
    }
    let notified = told(&receiver);
    let expected: Vec<i64> = winners.iter().chain(&promoted).copied().collect();
    assert_eq!(notified, expected);
    assert_eq!(app.stock(product).await, left);

    // Expired again, then nobody is left who fits: the units stay free.
    app.state.clock.advance(Duration::from_secs(60));
    dropline::shop::holds::expire_all_due(&app.state.shop())
        .await
        .unwrap();
    app.draw_step().await;
    let rest: Vec<i64> = waitlist
        .iter()
        .map(|(u, _)| *u)
        .filter(|u| !promoted.contains(u))
        .collect();
    let mut left = 3;
    let mut second = Vec::new();
    for u in &rest {
        let q = quantity(*u);
        if q <= left {
            left -= q;
            second.push(*u);
        }
    }
    let notified = told(&receiver);
    let expected: Vec<i64> = winners
        .iter()
        .chain(&promoted)
        .chain(&second)
        .copied()
        .collect();
    assert_eq!(notified, expected);
    assert_eq!(app.stock(product).await, left);
    let again = app.draw_step().await;
    assert_eq!(again.wins, 0);
}

/// Enters every (user, quantity) of `entries`, closes the window and runs the draw; answers
/// the seed it published.
async fn drawn(app: &TestApp, product: i64, entries: &[(i64, i64)]) -> String {
    for &(u, q) in entries {
        app.entered(product, u, q).await;
    }
    app.close_windows();
    app.draw_step().await;
    app.draw(product).await["seed"].as_str().unwrap().to_owned()
}
