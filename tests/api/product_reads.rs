//! Product reads answered from memory: after every kind of write on the same instance, the
//! next read shows exactly what the database holds.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::TestApp;

crate::on_every_backend!(
    repeated_reads_are_answered_from_memory_and_equal_the_database,
    a_read_after_an_order_or_a_cancel_shows_the_stock_it_left,
    a_read_after_a_patch_shows_every_field_as_patched,
    a_read_after_holds_expire_shows_their_units_back,
    a_read_after_a_restock_shows_the_new_stock_and_round,
);

impl TestApp {
    /// `GET /products/{id}`, insisting on 200.
    pub async fn read_product(&self, product: i64) -> Value {
        let (s, b) = self.get(&format!("/products/{product}"), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// The product as the listing reads it, straight from the database.
    pub async fn listed_product(&self, product: i64) -> Value {
        let (s, page) = self
            .get(&format!("/products?after={}&limit=1", product - 1), None)
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let item = page["items"][0].clone();
        assert_eq!(item["id"], product, "{page}");
        item
    }

    /// `PATCH /products/{id}` as admin, insisting on 200.
    pub async fn patch_product(&self, product: i64, body: Value) -> Value {
        let (s, b) = self
            .patch(&format!("/products/{product}"), Some(&self.admin()), body)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// Reads the product until a read comes from memory (the first after a change comes from
    /// the database) and checks every read against the database; answers the product.
    pub async fn assert_read_is_current(&self, product: i64) -> Value {
        let listed = self.listed_product(product).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let hits = self.state.products.hits();
            assert_eq!(self.read_product(product).await, listed);
            if self.state.products.hits() > hits {
                return listed;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no read of product {product} came from memory"
            );
        }
    }
}

async fn repeated_reads_are_answered_from_memory_and_equal_the_database(app: TestApp) {
    let created = app.create_product(json!({ "stock": 7 })).await;
    let id = created["id"].as_i64().unwrap();

    let read = app.assert_read_is_current(id).await;

    assert_eq!(read, created);
    let (s, _) = app.get("/products/999999", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn a_read_after_an_order_or_a_cancel_shows_the_stock_it_left(app: TestApp) {
    let product = app.product(json!({ "stock": 2 })).await;
    app.assert_read_is_current(product).await;

    let first = app.reserve(product, 1).await;
    assert_eq!(app.read_product(product).await["stock"], 1);
    let _second = app.reserve(product, 2).await;
    let sold_out = app.assert_read_is_current(product).await;
    assert_eq!(sold_out["stock"], 0);
    assert_eq!(sold_out["stock_status"], "SOLD_OUT");

    let (s, b) = app.cancel(first, &app.user(1)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let back = app.assert_read_is_current(product).await;
    assert_eq!(back["stock"], 1);
    assert_eq!(back["stock_status"], "IN_STOCK");
}

async fn a_read_after_a_patch_shows_every_field_as_patched(app: TestApp) {
    let product = app.product(json!({ "stock": 3 })).await;
    app.assert_read_is_current(product).await;
    app.state.clock.advance(Duration::from_secs(60));

    let patched = app
        .patch_product(
            product,
            json!({
                "name": "Chair One x Kith (black)", "price": 199000, "per_user_limit": 2,
                "hold_seconds": 600, "line_policy": "rotate",
                "sale_starts_at": "2026-12-14T10:00:00Z", "sale_ends_at": "2026-12-15T10:00:00Z"
            }),
        )
        .await;

    assert_eq!(app.read_product(product).await, patched);
    assert_eq!(app.assert_read_is_current(product).await, patched);
    assert_eq!(patched["name"], "Chair One x Kith (black)");
    assert_eq!(patched["sale_ends_at"], "2026-12-15T10:00:00Z");
    // Clearing a field is a change too.
    let cleared = app
        .patch_product(product, json!({ "sale_ends_at": null }))
        .await;
    assert!(cleared["sale_ends_at"].is_null());
    assert_eq!(app.read_product(product).await, cleared);
}

async fn a_read_after_holds_expire_shows_their_units_back(app: TestApp) {
    let product = app.product(json!({ "stock": 2, "hold_seconds": 5 })).await;
    let late = app.reserve(product, 1).await;
    app.reserve(product, 2).await;
    assert_eq!(app.assert_read_is_current(product).await["stock"], 0);
    app.state.clock.advance(Duration::from_secs(5));

    // One hold is expired by a payment that came too late, the other by the sweeper.
    let (s, _) = app.pay(late, 1, "too-late").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(app.read_product(product).await["stock"], 1);
    let expired = dropline::shop::holds::expire_all_due(&app.state.shop())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(app.read_product(product).await["stock"], 2);
    assert_eq!(app.assert_read_is_current(product).await["stock"], 2);
}

async fn a_read_after_a_restock_shows_the_new_stock_and_round(app: TestApp) {
    let product = app.product(json!({ "stock": 0 })).await;
    let before = app.assert_read_is_current(product).await;
    assert_eq!(before["restock_round"], 0);

    let round = app.restock_and_wait(product, Some(4)).await;
    assert_eq!(round["status"], "COMPLETED", "{round}");

    let after = app.read_product(product).await;
    assert_eq!(after["stock"], 4);
    assert_eq!(after["restock_round"], 1);
    assert_eq!(app.assert_read_is_current(product).await, after);
}
