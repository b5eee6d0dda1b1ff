//! Products: creation with defaults, validation naming the field, reads, pages and patches.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

crate::on_every_backend!(
    a_collaboration_is_created_with_defaults_and_read_back,
    product_creation_rejects_invalid_values_naming_the_field,
    unknown_products_are_404,
    products_are_listed_in_pages,
    a_patch_changes_only_the_fields_it_names,
    a_patch_with_invalid_values_changes_nothing,
);

async fn a_collaboration_is_created_with_defaults_and_read_back(app: TestApp) {
    let a = app.create_brand("Helinox", "camping").await;
    let b = app.create_brand("Kith", "fashion").await;
    let created = app
        .create_product(json!({
            "name": "Chair One x Kith", "brand_ids": [b, a], "price": 189000, "stock": 100,
            "sale_starts_at": "2026-12-14T10:00:00Z"
        }))
        .await;
    assert_eq!(created["name"], "Chair One x Kith");
    assert_eq!(created["brand_ids"], json!([a, b]));
    assert_eq!(created["price"], 189000);
    assert_eq!(created["stock"], 100);
    assert_eq!(created["stock_status"], "IN_STOCK");
    assert_eq!(created["restock_round"], 0);
    assert_eq!(created["sale_starts_at"], "2026-12-14T10:00:00Z");
    assert!(created["sale_ends_at"].is_null());
    assert_eq!(created["per_user_limit"], 1);
    assert_eq!(created["hold_seconds"], 1800);
    assert_eq!(created["line_policy"], "restart");
    assert_eq!(created["alert_mode"], "broadcast");
    assert_eq!(created["claim_seconds"], 600);
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

    let id = created["id"].as_i64().unwrap();
    let (s, read) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(read, created);

    let sold_out = app
        .create_product(json!({"brand_ids": [a], "stock": 0}))
        .await;
    assert_eq!(sold_out["stock_status"], "SOLD_OUT");
}

async fn product_creation_rejects_invalid_values_naming_the_field(app: TestApp) {
    let admin = app.admin();
    let brand = app.create_brand("Helinox", "camping").await;
    let cases = [
        (json!({"name": ""}), "name"),
        (json!({"price": -1}), "price"),
        (json!({"stock": -5}), "stock"),
        (json!({"brand_ids": []}), "brand_ids"),
        (json!({"brand_ids": [brand, brand]}), "brand_ids"),
        (json!({"brand_ids": [999_999]}), "brand_ids"),
        (json!({"per_user_limit": 0}), "per_user_limit"),
        (json!({"hold_seconds": 86_401}), "hold_seconds"),
        (json!({"line_policy": "random"}), "line_policy"),
        (json!({"alert_mode": "push"}), "alert_mode"),
        (json!({"claim_seconds": 4}), "claim_seconds"),
        (json!({"claim_seconds": 86_401}), "claim_seconds"),
        (json!({"claim_seconds": "soon"}), "claim_seconds"),
        (
            json!({"sale_starts_at": "2026-12-14T10:00:00Z", "sale_ends_at": "2026-12-14T09:00:00Z"}),
            "sale_ends_at",
        ),
        (json!({"sale_starts_at": "tomorrow"}), "sale_starts_at"),
        (json!({"stock": "ten"}), "stock"),
    ];
    for (extra, field) in cases {
        let mut body = extra.clone();
        if body.get("brand_ids").is_none() {
            body["brand_ids"] = json!([brand]);
        }
        let got = app.try_create_product(&admin, body).await;
        let message = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(message.contains(field), "{extra} → {message}");
    }
    let (_, list) = app.get("/products", None).await;
    assert_eq!(list["items"], json!([]));
}

async fn unknown_products_are_404(app: TestApp) {
    for path in [
        "/products/999",
        "/products/0",
        "/products/abc",
        "/products/-3",
    ] {
        let got = app.get(path, None).await;
        assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    }
    let got = app
        .patch("/products/999", Some(&app.admin()), json!({"price": 1}))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app
        .put("/products/999/subscription", Some(&app.user(1)))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app.import(999, &[1]).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
}

async fn products_are_listed_in_pages(app: TestApp) {
    let brand = app.create_brand("Helinox", "camping").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let p = app
            .create_product(json!({"brand_ids": [brand], "name": format!("P{i}")}))
            .await;
        ids.push(p["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut path = "/products?limit=2".to_owned();
    loop {
        let (s, page) = app.get(&path, None).await;
        assert_eq!(s, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(n) => path = format!("/products?limit=2&after={n}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

async fn a_patch_changes_only_the_fields_it_names(app: TestApp) {
    let p = app
        .create_product(json!({"sale_starts_at": "2026-12-14T10:00:00Z"}))
        .await;
    let id = p["id"].as_i64().unwrap();
    let got = app
        .patch(&format!("/products/{id}"), Some(&app.admin()), json!({"name": "Renamed", "per_user_limit": 2, "line_policy": "rotate", "sale_ends_at": "2026-12-15T10:00:00Z"}))
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    let patched = got.1;
    assert_eq!(patched["name"], "Renamed");
    assert_eq!(patched["per_user_limit"], 2);
    assert_eq!(patched["line_policy"], "rotate");
    assert_eq!(patched["sale_starts_at"], "2026-12-14T10:00:00Z");
    assert_eq!(patched["sale_ends_at"], "2026-12-15T10:00:00Z");
    assert_eq!(patched["price"], p["price"]);
    assert_eq!(patched["stock"], p["stock"]);

    // An explicit null clears a sale bound.
    let got = app
        .patch(
            &format!("/products/{id}"),
            Some(&app.admin()),
            json!({"sale_starts_at": null}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK);
    assert!(got.1["sale_starts_at"].is_null());
    assert_eq!(got.1["sale_ends_at"], "2026-12-15T10:00:00Z");
}

async fn a_patch_with_invalid_values_changes_nothing(app: TestApp) {
    let p = app.create_product(json!({})).await;
    let id = p["id"].as_i64().unwrap();
    for (body, field) in [
        (json!({"price": -1}), "price"),
        (json!({"name": " "}), "name"),
        (json!({"hold_seconds": 4}), "hold_seconds"),
        (json!({"per_user_limit": 1001}), "per_user_limit"),
        (json!({"alert_mode": "Claim"}), "alert_mode"),
        (
            json!({"alert_mode": "claim", "claim_seconds": 0}),
            "claim_seconds",
        ),
    ] {
        let got = app
            .patch(&format!("/products/{id}"), Some(&app.admin()), body)
            .await;
        let message = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(message.contains(field), "{message}");
    }
    let (_, read) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(read, p);
}
