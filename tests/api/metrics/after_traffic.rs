//! Metrics after traffic: request durations, stock, and orders counted by outcome.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, sample};

crate::on_every_backend!(
    metrics_show_request_durations_and_stock_after_traffic,
    metrics_count_orders_by_outcome,
);

async fn metrics_show_request_durations_and_stock_after_traffic(app: TestApp) {
    let product = app.create_product(json!({"stock": 7_654_321})).await["id"]
        .as_i64()
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.get(&format!("/products/{product}"), None).await.0,
            StatusCode::OK
        );
    }
    assert_eq!(
        app.get("/products/999999", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/no/such/route", None).await.0,
        StatusCode::NOT_FOUND
    );

    let scrape = app.scrape().await;

    let count = "dropline_http_request_duration_seconds_count";
    let ok = sample(
        &scrape,
        count,
        &[
            ("method", "GET"),
            ("route", "/products/{id}"),
            ("status", "200"),
        ],
    )
    .expect("a series for the product route's 200s");
    assert!(ok >= 3.0, "{ok}");
    assert!(
        sample(
            &scrape,
            count,
            &[
                ("method", "GET"),
                ("route", "/products/{id}"),
                ("status", "404")
            ],
        )
        .is_some()
    );
    assert!(sample(&scrape, count, &[("route", "unmatched"), ("status", "404")]).is_some());
    assert!(
        !scrape.contains("/products/999999") && !scrape.contains("/no/such/route"),
        "raw paths must not become labels"
    );
    assert!(
        sample(
            &scrape,
            "dropline_http_request_duration_seconds_bucket",
            &[("route", "/products/{id}"), ("le", "+Inf")],
        )
        .is_some()
    );
    assert_eq!(
        sample(
            &scrape,
            "dropline_stock_available",
            &[("product_id", &product.to_string())]
        ),
        Some(7_654_321.0)
    );
}

async fn metrics_count_orders_by_outcome(app: TestApp) {
    let before = app.scrape().await;
    let count = |scrape: &str, outcome: &str| {
        sample(scrape, "dropline_orders_total", &[("outcome", outcome)]).unwrap_or(0.0)
    };
    let product = app.product(json!({"stock": 1})).await;
    let order = app.reserve(product, 1).await;
    assert_eq!(app.order(product, 2).await.0, StatusCode::CONFLICT);
    assert_eq!(app.pay(order, 1, "pay-1").await.0, StatusCode::OK);

    let after = app.scrape().await;
    // Other tests in this process place orders too: each outcome grew by at least this test's.
    for outcome in ["reserved", "sold_out", "paid"] {
        assert!(
            count(&after, outcome) >= count(&before, outcome) + 1.0,
            "{outcome}: {after}"
        );
    }
}
