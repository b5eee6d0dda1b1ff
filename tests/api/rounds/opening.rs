//! Restock rounds: opening, order of notifications, reading rounds, conflicts and rights.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{TestApp, Tuning, assert_error, assert_invalid, item_ids, told, users};

crate::on_every_backend!(
    restock_notifies_the_whole_line_in_subscription_order,
    with_one_request_in_flight_the_receiver_sees_the_exact_line_order,
    restock_answers_202_at_once_and_refuses_a_second_round_while_one_runs,
    restock_without_stock_is_409_out_of_stock_and_opens_no_round,
    restock_rejects_a_bad_quantity_naming_the_field,
    resume_is_409_nothing_to_resume_unless_the_latest_round_failed,
    rounds_are_for_admins_and_owning_brands_only,
    rounds_are_listed_newest_first_in_pages,
    unknown_rounds_and_products_are_404,
);

async fn restock_notifies_the_whole_line_in_subscription_order(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 250, 0)
        .await;

    let round = app.restock_and_wait(product, Some(1000)).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["round"], 1);
    assert_eq!(round["product_id"], product);
    assert_eq!(round["notified_count"], 250);
    assert_eq!(round["last_sent_user_id"], *line.last().unwrap());
    assert!(round["finished_at"].is_string());
    assert!(round["error"].is_null());
    assert_eq!(app.recipients(product, 1, 7).await, line);
    let mut arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 250);
    arrivals.sort_by_key(|a| a.notification.position);
    let by_position: Vec<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(by_position, line);
    for (i, a) in arrivals.iter().enumerate() {
        assert_eq!(a.notification.position, i as i64 + 1);
        assert_eq!(a.notification.product_id, product);
        assert_eq!(a.notification.round, 1);
        assert_eq!(
            a.idempotency_key.as_deref(),
            Some(format!("{product}-1-{}", a.notification.user_id).as_str())
        );
    }
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["restock_round"], 1);
    assert_eq!(p["stock"], 1000);
}

async fn with_one_request_in_flight_the_receiver_sees_the_exact_line_order(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let tuning = Tuning::concurrency(1);
    let (app, line, product) = app.notifying_a_line(&receiver, tuning, 120, 5).await;
    app.leave(product, line[3]).await;
    let expected: Vec<i64> = line.iter().copied().filter(|u| *u != line[3]).collect();

    let round = app.restock_and_wait(product, None).await;

    assert_eq!(round["status"], "COMPLETED");
    let arrived = told(&receiver);
    assert_eq!(arrived, expected);
    assert_eq!(app.recipients(product, 1, 1000).await, expected);
}

async fn restock_answers_202_at_once_and_refuses_a_second_round_while_one_runs(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(300));
    let tuning = Tuning::concurrency(2);
    let (app, line, product) = app.notifying_a_line(&receiver, tuning, 6, 3).await;

    let round = app.restock_accepted(product, None).await;
    assert_eq!(round["status"], "IN_PROGRESS");
    assert_eq!(round["round"], 1);
    assert!(round["last_sent_user_id"].is_null());
    assert_eq!(round["notified_count"], 0);
    assert!(round["finished_at"].is_null());
    let again = app
        .restock_as(product, Some(&app.admin()), Some(5), false)
        .await;
    assert_error(&again, StatusCode::CONFLICT, "round_in_progress");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["restock_round"], 1);
    assert_eq!(p["stock"], 3, "a refused restock adds nothing");
    let resumed = app.resume_as(product, Some(&app.admin()), false).await;
    assert_error(&resumed, StatusCode::CONFLICT, "nothing_to_resume");

    let ended = app.settle(product, 1).await;
    assert_eq!(ended["status"], "COMPLETED");
    assert_eq!(app.recipients(product, 1, 100).await, line);
    let (s, second) = app
        .restock_as(product, Some(&app.admin()), None, true)
        .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(second["round"], 2);
}

async fn restock_without_stock_is_409_out_of_stock_and_opens_no_round(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.product_with_line(0, &users(3), json!({})).await;

    let got = app
        .restock_as(product, Some(&app.admin()), None, false)
        .await;

    assert_error(&got, StatusCode::CONFLICT, "out_of_stock");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["restock_round"], 0);
    let (_, list) = app
        .get(
            &format!("/products/{product}/notifications/rounds"),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(receiver.count(), 0);
    let round = app.restock_and_wait(product, Some(2)).await;
    assert_eq!(round["round"], 1);
    assert_eq!(round["status"], "COMPLETED");
}

async fn restock_rejects_a_bad_quantity_naming_the_field(app: TestApp) {
    let product = app.product_with_line(1, &users(1), json!({})).await;
    for q in [0, -3] {
        let got = app
            .restock_as(product, Some(&app.admin()), Some(q), false)
            .await;
        assert_invalid(&got, "quantity");
    }
    let got = app
        .post_raw(
            &format!("/products/{product}/notifications/re-stock"),
            &app.admin(),
            "application/json",
            "{\"quantity\": ",
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);
    let got = app
        .call(
            "POST",
            &format!("/products/{product}/notifications/re-stock?wait=maybe"),
            Some(&app.admin()),
            None,
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["restock_round"], 0);
}

async fn resume_is_409_nothing_to_resume_unless_the_latest_round_failed(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.product_with_line(2, &users(4), json!({})).await;

    let before = app.resume_as(product, Some(&app.admin()), false).await;
    assert_error(&before, StatusCode::CONFLICT, "nothing_to_resume");
    app.restock_and_wait(product, None).await;
    let after = app.resume_as(product, Some(&app.admin()), false).await;
    assert_error(&after, StatusCode::CONFLICT, "nothing_to_resume");
    assert_eq!(app.round(product, 1).await["status"], "COMPLETED");
    let missing = app.resume_as(999_999, Some(&app.admin()), false).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

async fn rounds_are_for_admins_and_owning_brands_only(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let owner = app.create_brand("Helinox", "camping").await;
    let other = app.create_brand("Other", "other").await;
    let product = app
        .product_with_line(2, &users(3), json!({ "brand_ids": [owner] }))
        .await;
    let restock = |token: Option<String>| {
        let app = &app;
        async move {
            app.restock_as(product, token.as_deref(), Some(1), false)
                .await
        }
    };

    assert_error(
        &restock(None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &restock(Some(app.user(7))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &restock(Some(app.brand(other))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(receiver.count(), 0);
    let (s, b) = app
        .restock_as(product, Some(&app.brand(owner)), Some(1), true)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    let reads = [
        format!("/products/{product}/notifications/rounds"),
        format!("/products/{product}/notifications/rounds/1"),
        format!("/products/{product}/notifications/rounds/1/recipients"),
    ];
    for path in &reads {
        assert_error(
            &app.get(path, None).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        let user = app.get(path, Some(&app.user(7))).await;
        assert_error(&user, StatusCode::FORBIDDEN, "forbidden");
        let stranger = app.get(path, Some(&app.brand(other))).await;
        assert_error(&stranger, StatusCode::FORBIDDEN, "forbidden");
        let (s, b) = app.get(path, Some(&app.brand(owner))).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    let resume = app.resume_as(product, Some(&app.brand(owner)), false).await;
    assert_error(&resume, StatusCode::FORBIDDEN, "forbidden");
    let resume = app.resume_as(product, None, false).await;
    assert_error(&resume, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn rounds_are_listed_newest_first_in_pages(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app.product_with_line(1, &users(2), json!({})).await;
    for _ in 0..3 {
        app.restock_and_wait(product, Some(1)).await;
    }

    let path = format!("/products/{product}/notifications/rounds?limit=2");
    let (s, first) = app.get(&path, Some(&app.admin())).await;

    assert_eq!(s, StatusCode::OK);
    let numbers = item_ids(&first, "round");
    assert_eq!(numbers, vec![3, 2]);
    let next = first["next"].as_str().unwrap();
    let (_, second) = app
        .get(&format!("{path}&after={next}"), Some(&app.admin()))
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["round"], 1);
    assert_eq!(second["items"][0]["status"], "COMPLETED");
    assert!(second["next"].is_null());
    let sent: HashSet<i64> = receiver
        .arrivals()
        .iter()
        .map(|a| a.notification.round)
        .collect();
    assert_eq!(sent, HashSet::from([1, 2, 3]));
}

async fn unknown_rounds_and_products_are_404(app: TestApp) {
    let product = app.product_with_line(1, &[], json!({})).await;
    let admin = app.admin();
    for path in [
        format!("/products/{product}/notifications/rounds/1"),
        format!("/products/{product}/notifications/rounds/x"),
        format!("/products/{product}/notifications/rounds/1/recipients"),
        "/products/999999/notifications/rounds".to_owned(),
    ] {
        assert_error(
            &app.get(&path, Some(&admin)).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
    let got = app.restock_as(999_999, Some(&admin), None, false).await;
    assert_error(&got, StatusCode::NOT_FOUND, "not_found");
}
