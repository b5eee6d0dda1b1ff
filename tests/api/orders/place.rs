//! Placing an order: what is reserved, and every reason to refuse.

use chrono::{DateTime, Duration as Span, Utc};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::helpers::{TestApp, assert_error};

crate::on_every_backend!(
    an_order_reserves_stock_and_holds_it_for_the_products_hold_seconds,
    an_order_without_a_body_or_with_an_empty_body_is_for_one_unit,
    ordering_takes_the_buyer_out_of_the_products_line,
    orders_outside_the_sale_window_are_refused_and_leave_the_stock_alone,
    a_user_cannot_hold_more_than_the_per_user_limit,
    an_order_larger_than_the_stock_is_sold_out_and_takes_nothing,
    a_retry_with_the_same_key_returns_the_same_order_with_200_and_changes_nothing,
    a_key_reused_with_another_body_is_a_conflict,
    bad_quantities_are_422_naming_quantity_and_malformed_json_is_400,
    a_malformed_idempotency_key_is_422_naming_the_header,
    only_buyers_place_orders_and_unknown_products_are_404,
);

fn time(v: &serde_json::Value) -> DateTime<Utc> {
    v.as_str().expect("time").parse().expect("rfc3339")
}

async fn an_order_reserves_stock_and_holds_it_for_the_products_hold_seconds(app: TestApp) {
    let product = app
        .product(json!({"stock": 10, "hold_seconds": 600, "per_user_limit": 3}))
        .await;

    let (s, b) = app
        .order_with(product, 7, Some(json!({"quantity": 3})), None)
        .await;

    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["product_id"], product);
    assert_eq!(b["user_id"], 7);
    assert_eq!(b["quantity"], 3);
    assert_eq!(b["status"], "RESERVED");
    assert!(b["paid_at"].is_null());
    assert_eq!(
        time(&b["expires_at"]) - time(&b["created_at"]),
        Span::seconds(600)
    );
    assert_eq!(app.stock(product).await, 7);
    let id = b["id"].as_i64().unwrap();
    let (s, got) = app.get(&format!("/orders/{id}"), Some(&app.user(7))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got, b);
}

async fn an_order_without_a_body_or_with_an_empty_body_is_for_one_unit(app: TestApp) {
    let product = app.product(json!({"stock": 5})).await;

    let (s, b) = app.order(product, 1).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["quantity"], 1);
    let (s, b) = app.order_with(product, 2, Some(json!({})), None).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["quantity"], 1);
    let resp = app
        .client
        .post(format!("{}/products/{product}/orders", app.addr))
        .bearer_auth(app.user(3))
        .header("content-type", "application/json")
        .header("content-length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    assert_eq!(app.stock(product).await, 2);
}

async fn ordering_takes_the_buyer_out_of_the_products_line(app: TestApp) {
    let product = app.product(json!({"stock": 5})).await;
    for u in [1, 2, 3] {
        assert_eq!(app.join(product, u).await, StatusCode::CREATED);
    }

    app.reserve(product, 2).await;

    assert_eq!(app.line(product).await, vec![1, 3]);
}

async fn orders_outside_the_sale_window_are_refused_and_leave_the_stock_alone(app: TestApp) {
    let now = app.state.clock.now();
    let product = app
        .product(json!({
            "stock": 5,
            "sale_starts_at": (now + Span::hours(1)).to_rfc3339(),
            "sale_ends_at": (now + Span::hours(2)).to_rfc3339(),
        }))
        .await;

    let got = app.order(product, 1).await;
    assert_error(&got, StatusCode::CONFLICT, "sale_not_started");
    assert_eq!(app.stock(product).await, 5);

    app.state.clock.advance(Duration::from_secs(90 * 60));
    app.reserve(product, 1).await;
    assert_eq!(app.stock(product).await, 4);

    app.state.clock.advance(Duration::from_secs(3600));
    let got = app.order(product, 2).await;
    assert_error(&got, StatusCode::CONFLICT, "sale_ended");
    assert_eq!(app.stock(product).await, 4);
}

async fn a_user_cannot_hold_more_than_the_per_user_limit(app: TestApp) {
    let product = app.product(json!({"stock": 10, "per_user_limit": 2})).await;
    let (s, first) = app
        .order_with(product, 1, Some(json!({"quantity": 2})), None)
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let got = app.order(product, 1).await;
    assert_error(&got, StatusCode::CONFLICT, "purchase_limit_exceeded");
    let got = app
        .order_with(product, 2, Some(json!({"quantity": 3})), None)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "purchase_limit_exceeded");
    assert_eq!(app.stock(product).await, 8);

    // A paid order still counts; a canceled one no longer does.
    let id = first["id"].as_i64().unwrap();
    assert_eq!(app.pay(id, 1, "pay-1").await.0, StatusCode::OK);
    let got = app.order(product, 1).await;
    assert_error(&got, StatusCode::CONFLICT, "purchase_limit_exceeded");
    assert_eq!(app.cancel(id, &app.user(1)).await.0, StatusCode::OK);
    app.reserve(product, 1).await;
    assert_eq!(app.stock(product).await, 9);
}

async fn an_order_larger_than_the_stock_is_sold_out_and_takes_nothing(app: TestApp) {
    let product = app.product(json!({"stock": 2, "per_user_limit": 5})).await;

    let got = app
        .order_with(product, 1, Some(json!({"quantity": 3})), None)
        .await;

    assert_error(&got, StatusCode::CONFLICT, "sold_out");
    assert_eq!(app.stock(product).await, 2);
    let (s, _) = app
        .order_with(product, 1, Some(json!({"quantity": 2})), None)
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_error(
        &app.order(product, 2).await,
        StatusCode::CONFLICT,
        "sold_out",
    );
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["stock"], 0);
    assert_eq!(p["stock_status"], "SOLD_OUT");
}

async fn a_retry_with_the_same_key_returns_the_same_order_with_200_and_changes_nothing(
    app: TestApp,
) {
    let product = app.product(json!({"stock": 10, "per_user_limit": 5})).await;
    let body = Some(json!({"quantity": 2}));
    let (s, first) = app.order_with(product, 1, body.clone(), Some("k-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");

    let (s, again) = app.order_with(product, 1, body.clone(), Some("k-1")).await;

    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again, first);
    assert_eq!(app.stock(product).await, 8);
    let (_, mine) = app.get("/me/orders", Some(&app.user(1))).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    // The key belongs to the user: another user's "k-1" is a new order.
    let (s, other) = app.order_with(product, 2, body, Some("k-1")).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_ne!(other["id"], first["id"]);
    assert_eq!(app.stock(product).await, 6);
}

async fn a_key_reused_with_another_body_is_a_conflict(app: TestApp) {
    let product = app.product(json!({"stock": 10, "per_user_limit": 5})).await;
    let other = app.product(json!({"stock": 10})).await;
    let (s, _) = app
        .order_with(product, 1, Some(json!({"quantity": 2})), Some("k-2"))
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let got = app
        .order_with(product, 1, Some(json!({"quantity": 1})), Some("k-2"))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "idempotency_key_reused");
    let got = app
        .order_with(other, 1, Some(json!({"quantity": 2})), Some("k-2"))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "idempotency_key_reused");

    assert_eq!(app.stock(product).await, 8);
    assert_eq!(app.stock(other).await, 10);
}

async fn bad_quantities_are_422_naming_quantity_and_malformed_json_is_400(app: TestApp) {
    let product = app.product(json!({"stock": 10})).await;
    for bad in [json!(0), json!(-1), json!(1001), json!("x"), json!(1.5)] {
        let got = app
            .order_with(product, 1, Some(json!({ "quantity": bad })), None)
            .await;
        let msg = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(msg.contains("quantity"), "{bad}: {msg}");
    }
    let got = app
        .post_raw(
            &format!("/products/{product}/orders"),
            &app.user(1),
            "application/json",
            "{\"quantity\": ",
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(app.stock(product).await, 10);
}

async fn a_malformed_idempotency_key_is_422_naming_the_header(app: TestApp) {
    let product = app.product(json!({"stock": 10})).await;
    let long = "k".repeat(65);
    for bad in ["", "has space", long.as_str()] {
        let got = app.order_with(product, 1, None, Some(bad)).await;
        let msg = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(msg.contains("Idempotency-Key"), "{bad:?}: {msg}");
    }
    let (s, _) = app
        .order_with(product, 1, None, Some(&"k".repeat(64)))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(app.stock(product).await, 9);
}

async fn only_buyers_place_orders_and_unknown_products_are_404(app: TestApp) {
    let product = app.create_product(json!({"stock": 10})).await;
    let id = product["id"].as_i64().unwrap();
    let brand = product["brand_ids"][0].as_i64().unwrap();
    let path = format!("/products/{id}/orders");

    let got = app.call("POST", &path, None, None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app.call("POST", &path, Some(&app.admin()), None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.call("POST", &path, Some(&app.brand(brand)), None).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.order(id + 1000, 1).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app
        .call("POST", "/products/abc/orders", Some(&app.user(1)), None)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");

    assert_eq!(app.stock(id).await, 10);
}
