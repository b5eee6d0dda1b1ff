//! After placement: paying, canceling, expiring holds, reading and listing orders.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::helpers::{TestApp, assert_error, assert_invalid};

crate::on_every_backend!(
    paying_marks_the_order_paid_and_the_same_reference_again_changes_nothing,
    paying_after_the_hold_passed_is_refused_and_returns_the_stock,
    canceling_returns_the_units_and_is_idempotent,
    another_users_order_is_not_found_to_them_and_brands_may_not_touch_orders,
    the_sweeper_expires_due_holds_and_returns_their_stock_to_new_buyers,
    a_hold_that_passed_while_the_server_was_down_expires_at_the_next_start,
    my_orders_are_listed_newest_first_in_pages,
);

async fn paying_marks_the_order_paid_and_the_same_reference_again_changes_nothing(app: TestApp) {
    let product = app.product(json!({"stock": 3})).await;
    let id = app.reserve(product, 1).await;

    let (s, paid) = app.pay(id, 1, "pg-123").await;

    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "PAID");
    assert!(paid["paid_at"].is_string());
    app.state.clock.advance(Duration::from_secs(5));
    let (s, again) = app.pay(id, 1, "pg-123").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, paid);
    let got = app.pay(id, 1, "pg-999").await;
    assert_error(&got, StatusCode::CONFLICT, "already_paid");
    let got = app.pay(id, 1, "  ").await;
    assert_invalid(&got, "payment_ref");
    // A paid order keeps its units even after its hold time has passed.
    app.state.clock.advance(Duration::from_secs(3600));
    dropline::shop::holds::expire_due(&app.state.shop())
        .await
        .unwrap();
    assert_eq!(app.order_status(id).await, "PAID");
    assert_eq!(app.stock(product).await, 2);
}

async fn paying_after_the_hold_passed_is_refused_and_returns_the_stock(app: TestApp) {
    let product = app.product(json!({"stock": 1, "hold_seconds": 5})).await;
    let id = app.reserve(product, 1).await;
    assert_eq!(app.stock(product).await, 0);

    app.state.clock.advance(Duration::from_secs(5));
    let got = app.pay(id, 1, "too-late").await;

    assert_error(&got, StatusCode::CONFLICT, "reservation_expired");
    assert_eq!(app.order_status(id).await, "EXPIRED");
    assert_eq!(app.stock(product).await, 1);
    let got = app.pay(id, 1, "too-late").await;
    assert_error(&got, StatusCode::CONFLICT, "reservation_expired");
    let got = app.cancel(id, &app.user(1)).await;
    assert_error(&got, StatusCode::CONFLICT, "reservation_expired");
    app.reserve(product, 2).await;
    assert_eq!(app.stock(product).await, 0);
}

async fn canceling_returns_the_units_and_is_idempotent(app: TestApp) {
    let product = app.product(json!({"stock": 5, "per_user_limit": 2})).await;
    let (_, reserved) = app
        .order_with(product, 1, Some(json!({"quantity": 2})), None)
        .await;
    let reserved = reserved["id"].as_i64().unwrap();
    let paid = app.reserve(product, 2).await;
    assert_eq!(app.pay(paid, 2, "p").await.0, StatusCode::OK);
    assert_eq!(app.stock(product).await, 2);

    let (s, b) = app.cancel(reserved, &app.user(1)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "CANCELED");
    assert_eq!(app.stock(product).await, 4);
    let (s, again) = app.cancel(reserved, &app.user(1)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, b);
    assert_eq!(app.stock(product).await, 4);

    let (s, b) = app.cancel(paid, &app.admin()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "CANCELED");
    assert_eq!(app.stock(product).await, 5);
    let got = app.pay(reserved, 1, "p").await;
    assert_error(&got, StatusCode::CONFLICT, "order_canceled");
}

async fn another_users_order_is_not_found_to_them_and_brands_may_not_touch_orders(app: TestApp) {
    let created = app.create_product(json!({"stock": 5})).await;
    let product = created["id"].as_i64().unwrap();
    let brand = app.brand(created["brand_ids"][0].as_i64().unwrap());
    let id = app.reserve(product, 1).await;
    let stranger = app.user(2);

    let got = app.get(&format!("/orders/{id}"), Some(&stranger)).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &app.pay(id, 2, "p").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.cancel(id, &stranger).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let got = app.get(&format!("/orders/{id}"), Some(&brand)).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    assert_error(
        &app.cancel(id, &brand).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let got = app
        .post(
            &format!("/orders/{id}/pay"),
            Some(&app.admin()),
            json!({"payment_ref": "p"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.get(&format!("/orders/{id}"), None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app.get("/orders/99999", Some(&app.admin())).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");

    assert_eq!(app.order_status(id).await, "RESERVED");
    assert_eq!(app.stock(product).await, 4);
}

async fn the_sweeper_expires_due_holds_and_returns_their_stock_to_new_buyers(app: TestApp) {
    let short = app.product(json!({"stock": 1, "hold_seconds": 5})).await;
    let long = app.product(json!({"stock": 1, "hold_seconds": 600})).await;
    let due = app.reserve(short, 1).await;
    let kept = app.reserve(long, 1).await;
    assert_error(&app.order(short, 2).await, StatusCode::CONFLICT, "sold_out");

    app.state.clock.advance(Duration::from_secs(6));
    dropline::shop::holds::expire_due(&app.state.shop())
        .await
        .expect("sweep");

    assert_eq!(app.order_status(due).await, "EXPIRED");
    assert_eq!(app.order_status(kept).await, "RESERVED");
    assert_eq!(app.stock(short).await, 1);
    assert_eq!(app.stock(long).await, 0);
    let (_, p) = app.get(&format!("/products/{short}"), None).await;
    assert_eq!(p["restock_round"], 0);
    app.reserve(short, 2).await;
    assert_eq!(app.stock(short).await, 0);
}

async fn a_hold_that_passed_while_the_server_was_down_expires_at_the_next_start(mut app: TestApp) {
    let product = app.product(json!({"stock": 1, "hold_seconds": 5})).await;
    let id = app.reserve(product, 1).await;

    app.stop().await;
    app.state.clock.advance(Duration::from_secs(60));
    let app = app.restart().await;

    assert_eq!(app.order_status(id).await, "EXPIRED");
    assert_eq!(app.stock(product).await, 1);
    app.reserve(product, 2).await;
    assert_error(
        &app.order(product, 3).await,
        StatusCode::CONFLICT,
        "sold_out",
    );
}

async fn my_orders_are_listed_newest_first_in_pages(app: TestApp) {
    let mut mine = Vec::new();
    for _ in 0..3 {
        let product = app.product(json!({"stock": 5})).await;
        mine.push(app.reserve(product, 1).await);
        app.reserve(product, 2).await;
    }
    let token = app.user(1);

    let (s, page) = app.get("/me/orders?limit=2", Some(&token)).await;

    assert_eq!(s, StatusCode::OK);
    let ids = |p: &serde_json::Value| -> Vec<i64> {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["user_id"], 1);
                o["id"].as_i64().unwrap()
            })
            .collect()
    };
    assert_eq!(ids(&page), vec![mine[2], mine[1]]);
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, page) = app
        .get(&format!("/me/orders?limit=2&after={next}"), Some(&token))
        .await;
    assert_eq!(ids(&page), vec![mine[0]]);
    assert!(page["next"].is_null());
    let got = app.get("/me/orders", Some(&app.admin())).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}
