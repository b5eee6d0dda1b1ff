//! Tokens read strictly, names that show, the stock maximum on restock, and rights checked
//! before anything about a body is said.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_invalid};

crate::on_every_backend!(
    a_user_sub_must_be_a_canonical_positive_decimal,
    a_token_is_refused_before_its_nbf_and_at_its_exp,
    the_bearer_scheme_is_matched_in_any_case,
    names_without_a_visible_character_are_refused,
    a_restock_cannot_take_stock_past_the_maximum,
    callers_without_rights_hear_403_before_any_body_error,
);

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn a_user_sub_must_be_a_canonical_positive_decimal(app: TestApp) {
    let token = |sub: &str| {
        app.keys
            .sign(&json!({"sub": sub, "role": "user", "exp": now() + 3600}))
            .unwrap()
    };
    let got = app.get("/me/subscriptions", Some(&token("5"))).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    for bad in ["+5", "005", "05", "0", "-1", " 5", "5 ", ""] {
        let got = app.get("/me/subscriptions", Some(&token(bad))).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

async fn a_token_is_refused_before_its_nbf_and_at_its_exp(app: TestApp) {
    let admin = |claims: Value| app.keys.sign(&claims).unwrap();
    let body = || json!({"name": "Helinox", "category": "camping"});
    let t = now();
    let later = admin(json!({"role": "admin", "exp": t + 3600, "nbf": t + 600}));
    let got = app.post("/brands", Some(&later), body()).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let at_exp = admin(json!({"role": "admin", "exp": t}));
    let got = app.post("/brands", Some(&at_exp), body()).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    // A past nbf and a future exp are a valid token.
    let valid = admin(json!({"role": "admin", "exp": t + 3600, "nbf": t - 10}));
    let got = app.post("/brands", Some(&valid), body()).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

async fn the_bearer_scheme_is_matched_in_any_case(app: TestApp) {
    let user = app.user(5);
    let admin = app.admin();
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp = app
            .get_authorized("/me/subscriptions", &format!("{scheme} {user}"))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
        let resp = app
            .get_authorized("/admin/events", &format!("{scheme} {admin}"))
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "{scheme} on /admin/events");
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
    }
    for header in [
        format!("Basic {user}"),
        format!("Bearer{user}"),
        "Bearer ".into(),
    ] {
        let resp = app
            .client
            .get(format!("{}/me/subscriptions", app.addr))
            .header("authorization", header.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header}");
    }
}

async fn names_without_a_visible_character_are_refused(app: TestApp) {
    let admin = app.admin();
    let brand = app.create_brand("Helinox", "camping").await;
    let product = app.create_product(json!({"brand_ids": [brand]})).await["id"]
        .as_i64()
        .unwrap();
    for name in [
        "\u{200B}",
        "\u{FEFF}",
        "\u{200C}\u{200D}",
        " \u{200B}\u{2060} ",
        "\u{3164}",
        "\u{0301}",
    ] {
        let got = app
            .post(
                "/brands",
                Some(&admin),
                json!({"name": name, "category": "camping"}),
            )
            .await;
        assert_invalid(&got, "name");
        let got = app
            .try_create_product(&admin, json!({"brand_ids": [brand], "name": name}))
            .await;
        assert_invalid(&got, "name");
        let got = app
            .patch(
                &format!("/products/{product}"),
                Some(&admin),
                json!({"name": name}),
            )
            .await;
        assert_invalid(&got, "name");
    }
    let (_, brands) = app.get("/brands", None).await;
    assert_eq!(brands["items"].as_array().unwrap().len(), 1, "{brands}");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["name"], "Chair One x Fleece");
    // A visible character among invisible ones is a name.
    let got = app
        .post(
            "/brands",
            Some(&admin),
            json!({"name": "\u{200B}Kith", "category": "fashion"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
}

async fn a_restock_cannot_take_stock_past_the_maximum(app: TestApp) {
    let admin = app.admin();
    let max = 1_000_000_000i64;
    let product = app.create_product(json!({"stock": max - 10, "per_user_limit": 5}));
    let id = product.await["id"].as_i64().unwrap();
    // Five units held in an order still count as stocked.
    let (s, b) = app
        .post(
            &format!("/products/{id}/orders"),
            Some(&app.user(1)),
            json!({"quantity": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let path = format!("/products/{id}/notifications/re-stock");
    let restock = |q: i64| app.post(&path, Some(&admin), json!({ "quantity": q }));
    // 999,999,985 free and 5 in an order: room for 10 more.
    for quantity in [11, max] {
        let got = restock(quantity).await;
        assert_invalid(&got, "quantity");
    }
    let (_, p) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(p["stock"], max - 15);
    assert_eq!(p["restock_round"], 0);
    let (_, rounds) = app
        .get(
            &format!("/products/{id}/notifications/rounds"),
            Some(&admin),
        )
        .await;
    assert_eq!(rounds["items"], json!([]));

    let (s, b) = restock(10).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let (_, p) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(p["stock"], max - 5);
}

async fn callers_without_rights_hear_403_before_any_body_error(app: TestApp) {
    let mine = app.create_brand("Helinox", "camping").await;
    let other = app.create_brand("Other", "other").await;
    let id = app.create_product(json!({"brand_ids": [mine]})).await["id"]
        .as_i64()
        .unwrap();
    let user = app.user(1);
    let stranger = app.brand(other);
    let routes: Vec<(&str, String)> = vec![
        ("POST", "/brands".into()),
        ("POST", "/products".into()),
        ("PATCH", format!("/products/{id}")),
        ("POST", format!("/products/{id}/notifications/re-stock")),
        (
            "POST",
            format!("/admin/products/{id}/notifications/re-stock"),
        ),
        ("POST", format!("/admin/products/{id}/subscriptions/import")),
    ];
    // Malformed JSON, the wrong content type, wrong types and bad values.
    let bodies: Vec<(&str, &str)> = vec![
        ("application/json", "{\"name\": "),
        ("text/plain", "{}"),
        (
            "application/json",
            r#"{"name": 5, "stock": "x", "brand_ids": "y", "quantity": "z", "user_ids": 1}"#,
        ),
        (
            "application/json",
            r#"{"name": " ", "stock": -1, "brand_ids": [], "quantity": 0, "user_ids": [-1], "unknown": 1}"#,
        ),
    ];
    for (method, path) in &routes {
        for (content_type, body) in &bodies {
            for (who, token) in [
                ("user", Some(&user)),
                ("other brand", Some(&stranger)),
                ("nobody", None),
            ] {
                let mut req = app
                    .client
                    .request(
                        method.parse().unwrap(),
                        format!("{}{path}?wait=maybe", app.addr),
                    )
                    .header("content-type", *content_type)
                    .body(body.to_string());
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status();
                let got: Value = resp.json().await.unwrap();
                let (want, code) = match token {
                    Some(_) => (StatusCode::FORBIDDEN, "forbidden"),
                    None => (StatusCode::UNAUTHORIZED, "unauthorized"),
                };
                assert_eq!(status, want, "{who} {method} {path} {body}: {got}");
                assert_eq!(got["error"]["code"], code, "{who} {method} {path}: {got}");
            }
        }
    }
    // A brand creating a product it is not part of is refused whatever else is wrong.
    let got = app
        .try_create_product(
            &stranger,
            json!({"brand_ids": [mine], "stock": -1, "price": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    // Those with the right still hear what is wrong with the body.
    let got = app
        .try_create_product(&app.brand(mine), json!({"brand_ids": [mine], "stock": -1}))
        .await;
    assert_invalid(&got, "stock");
    let got = app
        .post(
            &format!("/products/{id}/notifications/re-stock"),
            Some(&app.brand(mine)),
            json!({"quantity": 0}),
        )
        .await;
    assert_invalid(&got, "quantity");
    let got = app
        .post(
            "/brands",
            Some(&app.admin()),
            json!({"name": 5, "category": "other"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // Nothing changed.
    let (_, p) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(p["restock_round"], 0);
    assert_eq!(p["stock"], 10);
    let (_, brands) = app.get("/brands", None).await;
    assert_eq!(brands["items"].as_array().unwrap().len(), 2);
}
