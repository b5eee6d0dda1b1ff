//! Brands: created by admins, listed by anyone in pages, bad values and bodies refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, assert_invalid, item_ids};

crate::on_every_backend!(
    admin_creates_brands_and_anyone_lists_them_in_pages,
    brand_creation_rejects_bad_values_naming_the_field,
    brand_creation_rejects_malformed_json_and_wrong_content_type,
);

async fn admin_creates_brands_and_anyone_lists_them_in_pages(app: TestApp) {
    let (s, b) = app
        .post(
            "/brands",
            Some(&app.admin()),
            json!({"name": "Helinox", "category": "camping"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["name"], "Helinox");
    assert_eq!(b["category"], "camping");
    let first = b["id"].as_i64().unwrap();
    let second = app.create_brand("Kith", "fashion").await;
    let third = app.create_brand("Snow Peak", "other").await;

    let (s, page) = app.get("/brands?limit=2", None).await;
    assert_eq!(s, StatusCode::OK);
    let ids = item_ids(&page, "id");
    assert_eq!(ids, vec![first, second]);
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, page) = app
        .get(&format!("/brands?limit=2&after={next}"), None)
        .await;
    let ids = item_ids(&page, "id");
    assert_eq!(ids, vec![third]);
    assert!(page["next"].is_null());
}

async fn brand_creation_rejects_bad_values_naming_the_field(app: TestApp) {
    let admin = app.admin();
    for (body, field) in [
        (json!({"name": "  ", "category": "camping"}), "name"),
        (json!({"name": "X", "category": "food"}), "category"),
        (json!({"category": "camping"}), "name"),
    ] {
        let got = app.post("/brands", Some(&admin), body).await;
        assert_invalid(&got, field);
    }
    let got = app.get("/brands?limit=0", None).await;
    assert_invalid(&got, "limit");
    let got = app.get("/brands?limit=1001", None).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

async fn brand_creation_rejects_malformed_json_and_wrong_content_type(app: TestApp) {
    let got = app
        .post_raw("/brands", &app.admin(), "application/json", "{\"name\": ")
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "bad_request");

    let got = app
        .post_raw(
            "/brands",
            &app.admin(),
            "text/plain",
            r#"{"name":"A","category":"other"}"#,
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "bad_request");

    let big = "x".repeat(100 * 1024);
    let got = app
        .post(
            "/brands",
            Some(&app.admin()),
            json!({"name": big, "category": "other"}),
        )
        .await;
    assert_error(&got, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}
