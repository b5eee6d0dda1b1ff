//! The entry window, its codes and the per-user limit; the sale mode and its seed.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::helpers::{TestApp, assert_error, assert_invalid, item_ids};

crate::on_every_backend!(
    a_draw_product_needs_both_window_ends_and_publishes_only_the_seed_hash,
    entering_replaces_the_quantity_within_the_window_and_the_per_user_limit,
    entries_are_refused_outside_the_window_and_on_first_come_products,
    orders_are_refused_on_a_draw_product,
    the_sale_mode_cannot_change_once_the_product_has_entries_or_orders,
    the_entry_list_is_for_operators_and_owning_brands_by_user_id_before_the_draw,
    a_burst_of_entries_answers_each_entry_as_if_it_came_alone,
);

async fn a_draw_product_needs_both_window_ends_and_publishes_only_the_seed_hash(app: TestApp) {
    for (given, missing) in [
        ("sale_starts_at", "sale_ends_at"),
        ("sale_ends_at", "sale_starts_at"),
    ] {
        let mut body = json!({"sale_mode": "draw"});
        body[given] = json!("2026-12-14T10:00:00Z");
        let got = app.try_create_product(&app.admin(), body).await;
        assert_invalid(&got, missing);
    }
    let got = app
        .try_create_product(&app.admin(), json!({"sale_mode": "lottery"}))
        .await;
    assert_invalid(&got, "sale_mode");
    let first_come = app.create_product(json!({})).await;
    assert_eq!(first_come["sale_mode"], "first_come");
    assert!(first_come["draw_seed_hash"].is_null());

    let product = app.draw_product(3, json!({})).await;

    let (s, shown) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(shown["sale_mode"], "draw");
    let hash = shown["draw_seed_hash"].as_str().expect("hash").to_owned();
    assert_eq!(hash.len(), 64);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let draw = app.draw(product).await;
    assert_eq!(draw["status"], "OPEN");
    assert_eq!(draw["seed_hash"], hash.as_str());
    assert!(draw["seed"].is_null());
    assert!(draw["drawn_at"].is_null());
    assert!(draw["entries_digest"].is_null());
    assert!(draw["units"].is_null());
    assert_eq!(draw["entries"], 0);
    // Another draw product gets another seed.
    let other = app.draw_product(3, json!({})).await;
    let (_, other) = app.get(&format!("/products/{other}"), None).await;
    assert_ne!(other["draw_seed_hash"], hash.as_str());
    let got = app
        .get(&format!("/products/{}/draw", first_come["id"]), None)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "not_a_draw");
}

async fn entering_replaces_the_quantity_within_the_window_and_the_per_user_limit(app: TestApp) {
    let product = app.draw_product(3, json!({"per_user_limit": 2})).await;

    let resp = app
        .client
        .put(format!("{}/products/{product}/entry", app.addr))
        .bearer_auth(app.user(7))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        resp.headers()["location"],
        format!("/products/{product}/entry").as_str()
    );
    let first: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(first["product_id"], product);
    assert_eq!(first["user_id"], 7);
    assert_eq!(first["quantity"], 1);
    assert_eq!(first["status"], "ENTERED");
    assert!(first["rank"].is_null());
    assert!(first["order_id"].is_null());

    let (s, again) = app.enter(product, 7, Some(2)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["quantity"], 2);
    assert_eq!(again["created_at"], first["created_at"]);
    let got = app.enter(product, 7, Some(3)).await;
    assert_invalid(&got, "quantity");
    let got = app.enter(product, 7, Some(0)).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.entered(product, 8, 1).await;
    assert_eq!(app.withdraw(product, 8).await.0, StatusCode::NO_CONTENT);
    assert_eq!(app.withdraw(product, 9).await.0, StatusCode::NO_CONTENT);
    // Entering again after withdrawing is a new entry.
    app.state.clock.advance(Duration::from_secs(1));
    app.entered(product, 8, 1).await;
    assert_eq!(app.withdraw(product, 8).await.0, StatusCode::NO_CONTENT);
    let other = app.draw_product(3, json!({})).await;
    app.entered(other, 7, 1).await;

    let (s, mine) = app.get("/me/entries?limit=1", Some(&app.user(7))).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine["items"][0]["product_id"], other);
    let next = mine["next"].as_str().expect("next").to_owned();
    let (_, rest) = app
        .get(
            &format!("/me/entries?limit=1&after={next}"),
            Some(&app.user(7)),
        )
        .await;
    assert_eq!(rest["items"][0]["product_id"], product);
    assert_eq!(rest["items"][0]["quantity"], 2);
    assert!(rest["next"].is_null());
    assert_eq!(app.draw(product).await["entries"], 1);
    let got = app.get("/me/entries", Some(&app.admin())).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}

async fn entries_are_refused_outside_the_window_and_on_first_come_products(app: TestApp) {
    let later = app.state.clock.now() + chrono::Duration::hours(1);
    let product = app
        .create_product(json!({
            "sale_mode": "draw",
            "sale_starts_at": super::rfc3339(later),
            "sale_ends_at": super::rfc3339(later + chrono::Duration::hours(1)),
        }))
        .await["id"]
        .as_i64()
        .unwrap();
    let got = app.enter(product, 1, None).await;
    assert_error(&got, StatusCode::CONFLICT, "entry_closed");
    app.state.clock.advance(Duration::from_secs(3600));
    app.entered(product, 1, 1).await;
    app.entered(product, 2, 1).await;
    app.state.clock.advance(Duration::from_secs(3600));
    let got = app.enter(product, 3, None).await;
    assert_error(&got, StatusCode::CONFLICT, "entry_closed");
    let got = app.enter(product, 1, None).await;
    assert_error(&got, StatusCode::CONFLICT, "entry_closed");
    let got = app.withdraw(product, 2).await;
    assert_error(&got, StatusCode::CONFLICT, "entry_closed");
    assert_eq!(app.draw(product).await["status"], "CLOSED");
    assert_eq!(app.draw(product).await["entries"], 2);

    let first_come = app.product(json!({})).await;
    let got = app.enter(first_come, 1, None).await;
    assert_error(&got, StatusCode::CONFLICT, "not_a_draw");
    let got = app.enter(999_999, 1, None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
    let got = app
        .put(&format!("/products/{product}/entry"), Some(&app.admin()))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}

async fn orders_are_refused_on_a_draw_product(app: TestApp) {
    let product = app.draw_product(3, json!({})).await;

    let got = app.order(product, 1).await;

    assert_error(&got, StatusCode::CONFLICT, "draw_only");
    assert_eq!(app.stock(product).await, 3);
    assert!(app.orders_of(1).await.is_empty());
}

async fn the_sale_mode_cannot_change_once_the_product_has_entries_or_orders(app: TestApp) {
    let now = app.state.clock.now();
    let window = json!({
        "sale_starts_at": super::rfc3339(now - chrono::Duration::minutes(1)),
        "sale_ends_at": super::rfc3339(now + chrono::Duration::hours(1)),
    });
    let product = app.product(window.clone()).await;
    let path = format!("/products/{product}");
    let admin = app.admin();
    let patch = |body| app.call("PATCH", &path, Some(&admin), Some(body));

    let (s, b) = patch(json!({"sale_mode": "draw"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sale_mode"], "draw");
    let hash = b["draw_seed_hash"].as_str().expect("hash").to_owned();
    let (s, b) = patch(json!({"price": 1})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["draw_seed_hash"], hash.as_str());
    let got = patch(json!({"sale_ends_at": null})).await;
    assert_invalid(&got, "sale_ends_at");
    app.entered(product, 5, 1).await;
    let got = patch(json!({"sale_mode": "first_come"})).await;
    assert_error(&got, StatusCode::CONFLICT, "sale_mode_locked");

    let sold = app.product(window).await;
    app.reserve(sold, 1).await;
    let got = app
        .patch(
            &format!("/products/{sold}"),
            Some(&app.admin()),
            json!({"sale_mode": "draw"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "sale_mode_locked");
    let (_, b) = app.get(&format!("/products/{sold}"), None).await;
    assert_eq!(b["sale_mode"], "first_come");
    assert!(b["draw_seed_hash"].is_null());
}

async fn the_entry_list_is_for_operators_and_owning_brands_by_user_id_before_the_draw(
    app: TestApp,
) {
    let product = app.draw_product(3, json!({})).await;
    for user in [30, 10, 20] {
        app.entered(product, user, 1).await;
    }
    let (_, shown) = app.get(&format!("/products/{product}"), None).await;
    let owner = shown["brand_ids"][0].as_i64().unwrap();
    let path = format!("/products/{product}/draw/entries");

    let (s, page) = app.get(&path, Some(&app.brand(owner))).await;

    assert_eq!(s, StatusCode::OK, "{page}");
    let users = item_ids(&page, "user_id");
    assert_eq!(users, [10, 20, 30]);
    assert!(page["items"][0]["rank"].is_null());
    let other = app.create_brand("Other", "other").await;
    let got = app.get(&path, Some(&app.brand(other))).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.get(&path, Some(&app.user(10))).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.get(&path, None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let first_come = app.product(json!({})).await;
    let got = app
        .get(
            &format!("/products/{first_come}/draw/entries"),
            Some(&app.admin()),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "not_a_draw");
}

/// Entries arriving together are written a batch per transaction; each still gets the answer
/// it would get alone: new entries 201, a repeat of the same user 200 with its quantity,
/// a re-entry after withdrawing 201, refusals their own code, on two products at once.
async fn a_burst_of_entries_answers_each_entry_as_if_it_came_alone(app: TestApp) {
    let a = app.draw_product(10, json!({"per_user_limit": 2})).await;
    let b = app.draw_product(10, json!({"per_user_limit": 2})).await;
    for user in 41..=45 {
        app.entered(a, user, 1).await;
        assert_eq!(app.withdraw(a, user).await.0, StatusCode::NO_CONTENT);
    }
    app.state.clock.advance(Duration::from_secs(1));
    // (product, user, quantity) in the order sent, all in flight together.
    let mut sent = Vec::new();
    for user in 1..=40 {
        sent.push((a, user, 1));
    }
    for user in 1..=10 {
        sent.push((a, user, 2));
    }
    for user in 41..=45 {
        sent.push((a, user, 2));
    }
    for user in 1..=20 {
        sent.push((b, user, 2));
    }
    for user in 46..=50 {
        sent.push((a, user, 3));
    }
    let answers = futures::future::join_all(
        sent.iter()
            .map(|&(product, user, quantity)| app.enter(product, user, Some(quantity))),
    )
    .await;

    let mut created = std::collections::HashMap::new();
    let mut last_quantity = std::collections::HashMap::new();
    for (&(product, user, quantity), (status, body)) in sent.iter().zip(&answers) {
        if quantity == 3 {
            assert_error(
                &(*status, body.clone()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            continue;
        }
        assert!(
            *status == StatusCode::CREATED || *status == StatusCode::OK,
            "{status} {body}"
        );
        assert_eq!(body["product_id"], product, "{body}");
        assert_eq!(body["user_id"], user, "{body}");
        assert_eq!(body["quantity"], quantity, "{body}");
        assert_eq!(body["status"], "ENTERED", "{body}");
        if *status == StatusCode::CREATED {
            assert!(
                created
                    .insert((product, user), body["created_at"].clone())
                    .is_none(),
                "two entries created for user {user} of product {product}"
            );
        }
        // The later of two answers for one user is the one that replaced the other: its
        // quantity is the entry's.
        let e = last_quantity.entry((product, user)).or_insert(quantity);
        if *status == StatusCode::OK {
            *e = quantity;
        }
    }
    // Every user of each product was created exactly once (the re-entries too).
    let mut expected: Vec<(i64, i64)> = (1..=45).map(|u| (a, u)).collect();
    expected.extend((1..=20).map(|u| (b, u)));
    let mut got: Vec<(i64, i64)> = created.keys().copied().collect();
    got.sort();
    expected.sort();
    assert_eq!(got, expected);

    for (product, users) in [(a, 45), (b, 20)] {
        let listed = app.draw_entries(product, 100).await;
        let ids: Vec<i64> = listed
            .iter()
            .map(|e| e["user_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, (1..=users).collect::<Vec<_>>(), "product {product}");
        for e in &listed {
            let user = e["user_id"].as_i64().unwrap();
            assert_eq!(e["quantity"], last_quantity[&(product, user)], "{e}");
            assert_eq!(e["created_at"], created[&(product, user)], "{e}");
        }
        assert_eq!(app.draw(product).await["entries"], users);
    }
}
