//! Lines of subscribers: joining, leaving, the order of the line, imports, and a user's own
//! subscriptions and place.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, assert_invalid, item_ids};

crate::on_every_backend!(
    joining_is_idempotent_and_keeps_the_place,
    the_line_is_join_order_and_rejoining_goes_to_the_back,
    leaving_is_204_also_when_not_subscribed,
    a_user_lists_only_their_own_subscriptions,
    an_import_keeps_existing_places_and_appends_the_rest_in_order,
    an_import_rejects_bad_ids_and_oversized_lists,
    ten_thousand_imported_users_read_back_in_order,
    a_user_reads_their_place_among_the_active_members_of_the_line,
);

async fn product(app: &TestApp) -> i64 {
    app.create_product(json!({})).await["id"].as_i64().unwrap()
}

async fn joining_is_idempotent_and_keeps_the_place(app: TestApp) {
    let p = product(&app).await;
    let path = format!("/products/{p}/subscription");
    let (s, first) = app.call("PUT", &path, Some(&app.user(5)), None).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(first["product_id"], p);
    assert_eq!(first["user_id"], 5);
    assert_eq!(first["active"], true);
    assert_eq!(app.join(p, 6).await, StatusCode::CREATED);
    let (s, again) = app.call("PUT", &path, Some(&app.user(5)), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(app.line(p).await, vec![5, 6]);
}

async fn the_line_is_join_order_and_rejoining_goes_to_the_back(app: TestApp) {
    let p = product(&app).await;
    for u in [3, 1, 2] {
        assert_eq!(app.join(p, u).await, StatusCode::CREATED);
    }
    assert_eq!(app.line(p).await, vec![3, 1, 2]);
    assert_eq!(app.leave(p, 3).await, StatusCode::NO_CONTENT);
    assert_eq!(app.line(p).await, vec![1, 2]);
    assert_eq!(app.join(p, 3).await, StatusCode::CREATED);
    assert_eq!(app.line(p).await, vec![1, 2, 3]);
}

async fn leaving_is_204_also_when_not_subscribed(app: TestApp) {
    let p = product(&app).await;
    assert_eq!(app.leave(p, 9).await, StatusCode::NO_CONTENT);
    assert_eq!(app.join(p, 9).await, StatusCode::CREATED);
    assert_eq!(app.leave(p, 9).await, StatusCode::NO_CONTENT);
    assert_eq!(app.leave(p, 9).await, StatusCode::NO_CONTENT);
    assert!(app.line(p).await.is_empty());
}

async fn a_user_lists_only_their_own_subscriptions(app: TestApp) {
    let brand = app.create_brand("Helinox", "camping").await;
    let mut products = Vec::new();
    for _ in 0..3 {
        products.push(
            app.create_product(json!({"brand_ids": [brand]})).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    for p in &products {
        app.join(*p, 1).await;
    }
    app.join(products[0], 2).await;
    app.leave(products[1], 1).await;

    let (s, page) = app
        .get("/me/subscriptions?limit=1", Some(&app.user(1)))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["product_id"], products[0]);
    let next = page["next"].as_str().unwrap().to_owned();
    let (_, page) = app
        .get(
            &format!("/me/subscriptions?after={next}"),
            Some(&app.user(1)),
        )
        .await;
    let rest = item_ids(&page, "product_id");
    assert_eq!(rest, vec![products[2]]);
    assert!(page["next"].is_null());
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["user_id"] == 1)
    );
}

async fn an_import_keeps_existing_places_and_appends_the_rest_in_order(app: TestApp) {
    let p = product(&app).await;
    app.join(p, 10).await;
    app.join(p, 20).await;
    app.join(p, 30).await;
    app.leave(p, 20).await;
    let (s, b) = app.import(p, &[40, 10, 20, 50, 40]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"imported": 3, "already_active": 2}));
    assert_eq!(app.line(p).await, vec![10, 30, 40, 20, 50]);
}

async fn an_import_rejects_bad_ids_and_oversized_lists(app: TestApp) {
    let p = product(&app).await;
    let got = app.import(p, &[1, 0]).await;
    assert_invalid(&got, "user_ids");
    let too_many: Vec<i64> = (1..=100_001).collect();
    let got = app.import(p, &too_many).await;
    assert_invalid(&got, "user_ids");
    let got = app
        .post(
            &format!("/admin/products/{p}/subscriptions/import"),
            Some(&app.admin()),
            json!({"user_ids": "1,2"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(app.line(p).await.is_empty());
}

async fn ten_thousand_imported_users_read_back_in_order(app: TestApp) {
    let p = product(&app).await;
    // A shuffled-looking but deterministic order, so id order and line order differ.
    let users: Vec<i64> = (0..10_000).map(|i| (i * 7_919) % 10_000 + 1).collect();
    let (s, b) = app.import(p, &users).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b, json!({"imported": 10_000, "already_active": 0}));
    assert_eq!(app.line(p).await, users);
}

async fn a_user_reads_their_place_among_the_active_members_of_the_line(app: TestApp) {
    let p = product(&app).await;
    let other = product(&app).await;
    for u in [7, 8, 9, 10] {
        assert_eq!(app.join(p, u).await, StatusCode::CREATED);
    }
    assert_eq!(app.join(other, 10).await, StatusCode::CREATED);
    let path = format!("/products/{p}/subscription");
    let app = &app;
    let place = |user: i64| {
        let path = path.clone();
        async move { app.get(&path, Some(&app.user(user))).await }
    };
    let (s, nine) = place(9).await;
    assert_eq!(s, StatusCode::OK, "{nine}");
    assert_eq!(nine["product_id"], p);
    assert_eq!(nine["user_id"], 9);
    assert_eq!(nine["active"], true);
    assert_eq!(nine["place"], 3);
    assert!(nine["created_at"].is_string());
    assert_eq!(place(7).await.1["place"], 1);

    // Leaving moves everyone behind up; the one who left is not in the line.
    assert_eq!(app.leave(p, 8).await, StatusCode::NO_CONTENT);
    assert_eq!(place(9).await.1["place"], 2);
    assert_eq!(place(10).await.1["place"], 3);
    assert_error(&place(8).await, StatusCode::NOT_FOUND, "not_found");
    // Rejoining goes to the back.
    assert_eq!(app.join(p, 8).await, StatusCode::CREATED);
    assert_eq!(place(8).await.1["place"], 4);
    // Another product's line counts on its own.
    let (_, theirs) = app
        .get(
            &format!("/products/{other}/subscription"),
            Some(&app.user(10)),
        )
        .await;
    assert_eq!(theirs["place"], 1);

    assert_error(&place(99).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &app.get("/products/999999/subscription", Some(&app.user(7)))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get(&path, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &app.get(&path, Some(&app.admin())).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}
