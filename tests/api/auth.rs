//! Who may do what: no token or a bad one is 401, a token without the right is 403, and a
//! brand manages only the products it is part of.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error};

crate::on_every_backend!(
    requests_without_a_valid_token_are_unauthorized,
    tokens_without_the_right_are_forbidden,
    a_brand_cannot_manage_another_brands_product,
);

async fn requests_without_a_valid_token_are_unauthorized(app: TestApp) {
    let body = json!({"name": "Helinox", "category": "camping"});
    let got = app.post("/brands", None, body.clone()).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app
        .post("/brands", Some(&app.expired_admin()), body.clone())
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let foreign = dropline::auth::TokenKeys::new(b"another-secret")
        .mint(
            dropline::auth::Principal::Admin,
            std::time::Duration::from_secs(60),
        )
        .unwrap();
    let got = app.post("/brands", Some(&foreign), body.clone()).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app.post("/brands", Some("not-a-jwt"), body).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app.get("/me/subscriptions", None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn tokens_without_the_right_are_forbidden(app: TestApp) {
    let body = json!({"name": "Helinox", "category": "camping"});
    let got = app.post("/brands", Some(&app.user(7)), body.clone()).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.post("/brands", Some(&app.brand(1)), body).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");

    let product = app.create_product(json!({})).await;
    let id = product["id"].as_i64().unwrap();
    let got = app.import(id, &[1]).await;
    assert_eq!(got.0, StatusCode::OK);
    let got = app
        .post(
            &format!("/admin/products/{id}/subscriptions/import"),
            Some(&app.user(1)),
            json!({"user_ids": [2]}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app
        .get(
            &format!("/admin/products/{id}/subscriptions"),
            Some(&app.user(1)),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    // Only users join lines: an admin token has no user to join as.
    let got = app
        .put(&format!("/products/{id}/subscription"), Some(&app.admin()))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.get("/me/subscriptions", Some(&app.brand(1))).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}

async fn a_brand_cannot_manage_another_brands_product(app: TestApp) {
    let helinox = app.create_brand("Helinox", "camping").await;
    let kith = app.create_brand("Kith", "fashion").await;
    let other = app.create_brand("Other", "other").await;

    // A brand creates a collaboration it is part of, never one it is not.
    let got = app
        .try_create_product(&app.brand(helinox), json!({"brand_ids": [helinox, kith]}))
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let id = got.1["id"].as_i64().unwrap();
    let got = app
        .try_create_product(&app.brand(other), json!({"brand_ids": [helinox, kith]}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");

    // Only an owning brand (or admin) may change it.
    for outsider in [app.brand(other), app.user(1)] {
        let got = app
            .patch(
                &format!("/products/{id}"),
                Some(&outsider),
                json!({"price": 1}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
    let got = app
        .patch(
            &format!("/products/{id}"),
            Some(&app.brand(kith)),
            json!({"price": 1}),
        )
        .await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(got.1["price"], 1);
}
