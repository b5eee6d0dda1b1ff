//! A claim round from the restock to its end: one claim per free unit in line order, the
//! holder's order, and every way a unit passes on (expiry, release, a canceled order).

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{CLAIM_SECONDS, TestApp, assert_error, bodies, told_sorted, users};

crate::on_every_backend!(
    a_claim_round_gives_one_claim_per_free_unit_in_line_order_and_nobody_else_can_order_them,
    holders_order_from_their_claims_and_the_round_ends_sold_out_when_every_unit_is_in_an_order,
    an_expired_claim_passes_its_unit_to_the_next_member_until_the_line_is_exhausted,
    a_holder_who_leaves_the_line_releases_the_unit_to_the_next_member,
    a_canceled_order_during_the_round_is_offered_to_the_next_member,
    a_quantity_above_one_takes_the_rest_from_free_stock_or_leaves_the_claim_open,
    a_member_notified_once_in_a_round_never_gets_a_second_claim,
    a_restart_with_open_claims_loses_none_and_gives_none_twice,
    a_broken_claim_round_resumes_with_the_alert_that_did_not_go_out,
    only_admins_and_owning_brands_read_a_rounds_claims,
);

async fn a_claim_round_gives_one_claim_per_free_unit_in_line_order_and_nobody_else_can_order_them(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(10);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;

    let opened = app.restock_now(product, 3).await;
    assert_eq!(opened["alert_mode"], "claim");
    receiver.wait_for(3).await;

    let claims = app.claims(product, 1, 2).await;
    let holders: Vec<i64> = claims
        .iter()
        .map(|c| c["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(holders, line[..3]);
    for (i, c) in claims.iter().enumerate() {
        assert_eq!(c["position"], i as i64 + 1, "{c}");
        assert_eq!(c["status"], "OPEN", "{c}");
        assert_eq!(c["order_id"], serde_json::Value::Null, "{c}");
        let made = chrono::DateTime::parse_from_rfc3339(c["created_at"].as_str().unwrap()).unwrap();
        let ends = chrono::DateTime::parse_from_rfc3339(c["expires_at"].as_str().unwrap()).unwrap();
        assert_eq!((ends - made).num_seconds(), CLAIM_SECONDS, "{c}");
    }
    // Claimed units are not free: the product shows none, and an outsider is refused.
    assert_eq!(app.stock(product).await, 0);
    let outsider = app.order(product, line[5]).await;
    assert_error(&outsider, StatusCode::CONFLICT, "sold_out");

    // Each alert says it is a restock that comes with a claim, and until when.
    // (In flight together, the alerts may arrive in any order: matched by place.)
    let mut sent = bodies(&receiver);
    sent.sort_by_key(|b| b["position"].as_i64());
    assert_eq!(sent.len(), 3);
    for (body, claim) in sent.iter().zip(&claims) {
        assert_eq!(body["kind"], "restock", "{body}");
        assert_eq!(body["user_id"], claim["user_id"], "{body}");
        assert_eq!(body["position"], claim["position"], "{body}");
        let said = chrono::DateTime::parse_from_rfc3339(body["claim_expires_at"].as_str().unwrap());
        let kept = chrono::DateTime::parse_from_rfc3339(claim["expires_at"].as_str().unwrap());
        assert_eq!(said.unwrap(), kept.unwrap(), "{body}");
    }

    let round = app.round(product, 1).await;
    assert_eq!(round["status"], "IN_PROGRESS");
    assert_eq!(round["alert_mode"], "claim");
    assert_eq!(round["notified_count"], 3);
    assert_eq!(app.claim_counts(product, 1).await, [3, 0, 0, 0]);

    // A holder sees the claim among their own, with the product and round.
    let (s, mine) = app.get("/me/claims", Some(&app.user(line[1]))).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let items = mine["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{mine}");
    assert_eq!(items[0]["product_id"], product);
    assert_eq!(items[0]["round"], 1);
    assert_eq!(items[0]["user_id"], line[1]);
    assert_eq!(items[0]["status"], "OPEN");
    let (_, none) = app.get("/me/claims", Some(&app.user(line[5]))).await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(receiver.count(), 3);
}

async fn holders_order_from_their_claims_and_the_round_ends_sold_out_when_every_unit_is_in_an_order(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(5);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 2).await;
    receiver.wait_for(2).await;

    let first = app.reserve(product, line[0]).await;
    assert_eq!(app.claim_counts(product, 1).await, [1, 1, 0, 0]);
    let second = app.reserve(product, line[1]).await;

    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 2);
    assert_eq!(app.claim_counts(product, 1).await, [0, 2, 0, 0]);
    let claims = app.claims(product, 1, 100).await;
    assert_eq!(claims[0]["status"], "USED");
    assert_eq!(claims[0]["order_id"], first);
    assert_eq!(claims[1]["order_id"], second);
    assert_eq!(app.order_status(first).await, "RESERVED");
    assert_eq!(app.recipients(product, 1, 100).await, line[..2]);
    assert_eq!(app.stock(product).await, 0);
    assert_eq!(receiver.count(), 2);
    // The buyers left the line with their orders.
    assert_eq!(app.line(product).await, line[2..]);
}

async fn an_expired_claim_passes_its_unit_to_the_next_member_until_the_line_is_exhausted(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(3);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 1).await;
    receiver.wait_for(1).await;

    for next in 1..line.len() {
        app.expire_claims().await;
        receiver.wait_for(next + 1).await;
        let states = app.claim_states(product, 1).await;
        assert_eq!(states.len(), next + 1);
        assert_eq!(states[next], (line[next], "OPEN".to_owned()));
        assert!(
            states[..next].iter().all(|(_, s)| s == "EXPIRED"),
            "{states:?}"
        );
        // The one whose claim ran out may not buy the unit now set aside for the next.
        assert_error(
            &app.order(product, line[next - 1]).await,
            StatusCode::CONFLICT,
            "sold_out",
        );
    }
    // The last claim runs out with nobody left in line: the unit stays free for anyone.
    app.expire_claims().await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["notified_count"], 3);
    assert_eq!(app.claim_counts(product, 1).await, [0, 0, 3, 0]);
    assert_eq!(app.stock(product).await, 1);
    assert_eq!(receiver.count(), 3);
    app.reserve(product, 77).await;
}

async fn a_holder_who_leaves_the_line_releases_the_unit_to_the_next_member(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(3);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 1).await;
    receiver.wait_for(1).await;

    assert_eq!(app.leave(product, line[0]).await, StatusCode::NO_CONTENT);
    receiver.wait_for(2).await;
    assert_eq!(
        app.claim_states(product, 1).await,
        vec![
            (line[0], "RELEASED".to_owned()),
            (line[1], "OPEN".to_owned())
        ]
    );
    assert_eq!(app.claim_counts(product, 1).await, [1, 0, 0, 1]);
    assert_eq!(app.stock(product).await, 0);
    // Leaving again, or leaving without a claim, changes nothing.
    assert_eq!(app.leave(product, line[0]).await, StatusCode::NO_CONTENT);
    assert_eq!(app.leave(product, line[2]).await, StatusCode::NO_CONTENT);
    assert_eq!(app.claim_counts(product, 1).await, [1, 0, 0, 1]);
    app.reserve(product, line[1]).await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(receiver.count(), 2);
}

async fn a_canceled_order_during_the_round_is_offered_to_the_next_member(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(3);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 2).await;
    receiver.wait_for(2).await;

    // The first holder orders and cancels while the second claim keeps the round going:
    // the unit the order gives back goes to the next member at once.
    let order = app.reserve(product, line[0]).await;
    let (s, b) = app.cancel(order, &app.user(line[0])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    receiver.wait_for(3).await;
    assert_eq!(
        app.claim_states(product, 1).await,
        vec![
            (line[0], "USED".to_owned()),
            (line[1], "OPEN".to_owned()),
            (line[2], "OPEN".to_owned())
        ]
    );
    assert_eq!(app.stock(product).await, 0);
    assert_eq!(app.round(product, 1).await["status"], "IN_PROGRESS");
    // Both holders buy: every unit is in an order and no claim is open.
    app.reserve(product, line[1]).await;
    app.reserve(product, line[2]).await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(app.claim_counts(product, 1).await, [0, 3, 0, 0]);
    assert_eq!(receiver.count(), 3);
}

async fn a_quantity_above_one_takes_the_rest_from_free_stock_or_leaves_the_claim_open(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(1);
    let (app, product) = app
        .claim_setup(&receiver, &line, json!({"per_user_limit": 5}))
        .await;
    app.restock_now(product, 2).await;
    receiver.wait_for(1).await;
    // One unit claimed, one free: three is more than there is.
    assert_eq!(app.stock(product).await, 1);
    let three = app
        .order_with(product, line[0], Some(json!({"quantity": 3})), None)
        .await;
    assert_error(&three, StatusCode::CONFLICT, "sold_out");
    assert_eq!(app.claim_counts(product, 1).await, [1, 0, 0, 0]);
    assert_eq!(app.stock(product).await, 1);

    let (s, two) = app
        .order_with(product, line[0], Some(json!({"quantity": 2})), Some("two"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{two}");
    assert_eq!(two["quantity"], 2);
    assert_eq!(app.stock(product).await, 0);
    assert_eq!(app.claim_counts(product, 1).await, [0, 1, 0, 0]);
    // A retry with the same key answers the same order.
    let (s, again) = app
        .order_with(product, line[0], Some(json!({"quantity": 2})), Some("two"))
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], two["id"]);
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
}

async fn a_member_notified_once_in_a_round_never_gets_a_second_claim(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(2);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 1).await;
    receiver.wait_for(1).await;
    // The first holder leaves (the unit passes on) and joins again, at the back.
    assert_eq!(app.leave(product, line[0]).await, StatusCode::NO_CONTENT);
    receiver.wait_for(2).await;
    assert_eq!(app.join(product, line[0]).await, StatusCode::CREATED);
    // The second claim runs out: the walk reaches the first member again and passes them.
    app.expire_claims().await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(
        app.claim_states(product, 1).await,
        vec![
            (line[0], "RELEASED".to_owned()),
            (line[1], "EXPIRED".to_owned())
        ]
    );
    assert_eq!(receiver.count(), 2);
    assert_eq!(app.stock(product).await, 1);
}

async fn a_restart_with_open_claims_loses_none_and_gives_none_twice(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(4);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 2).await;
    receiver.wait_for(2).await;

    let app = app.restart().await;
    app.state.notifier.recover_once().await.expect("recover");
    assert_eq!(app.claim_counts(product, 1).await, [2, 0, 0, 0]);
    assert_eq!(app.stock(product).await, 0);
    assert_error(
        &app.order(product, line[3]).await,
        StatusCode::CONFLICT,
        "sold_out",
    );
    app.reserve(product, line[0]).await;

    // The open claim left runs out (also after the restart): the next member gets it.
    app.expire_claims().await;
    receiver.wait_for(3).await;
    assert_eq!(
        app.claim_states(product, 1).await,
        vec![
            (line[0], "USED".to_owned()),
            (line[1], "EXPIRED".to_owned()),
            (line[2], "OPEN".to_owned())
        ]
    );
    app.reserve(product, line[2]).await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 3);
    assert_eq!(told_sorted(&receiver), line[..3]);
}

async fn a_broken_claim_round_resumes_with_the_alert_that_did_not_go_out(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(3);
    // One alert in flight, so the provider's second request is the second claim's alert.
    let (app, product) = app.claim_setup_one_at_a_time(&receiver, &line).await;
    // The provider fails from the second request on, past every retry.
    receiver.fail_from(Some(2), 500);
    app.restock_now(product, 2).await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_ERROR");
    assert!(
        round["error"]
            .as_str()
            .unwrap()
            .contains(&line[1].to_string()),
        "{round}"
    );
    // The claim whose alert failed keeps its unit; only the first alert is in the history.
    assert_eq!(app.claim_counts(product, 1).await, [2, 0, 0, 0]);
    assert_eq!(app.recipients(product, 1, 100).await, line[..1]);

    receiver.fail_from(None, 500);
    let before = receiver.count();
    let (s, b) = app.resume_as(product, Some(&app.admin()), false).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    receiver.wait_for(before + 1).await;
    let last = receiver.arrivals().last().cloned().unwrap();
    assert_eq!(last.notification.user_id, line[1]);
    assert!(last.accepted);
    app.reserve(product, line[0]).await;
    app.reserve(product, line[1]).await;
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(app.recipients(product, 1, 100).await, line[..2]);
    assert_eq!(round["notified_count"], 2);
}

async fn only_admins_and_owning_brands_read_a_rounds_claims(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(2);
    let (app, product) = app.claim_setup(&receiver, &line, json!({})).await;
    app.restock_now(product, 1).await;
    receiver.wait_for(1).await;
    let path = format!("/products/{product}/notifications/rounds/1/claims");
    let brand = app.round(product, 1).await["product_id"].as_i64().unwrap();
    assert_eq!(brand, product);
    let owner = app.get(&format!("/products/{product}"), None).await.1["brand_ids"][0]
        .as_i64()
        .unwrap();
    let (s, b) = app.get(&path, Some(&app.brand(owner))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["items"].as_array().unwrap().len(), 1);
    let other = app.create_brand("Other", "fashion").await;
    assert_error(
        &app.get(&path, Some(&app.brand(other))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get(&path, Some(&app.user(line[0]))).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.get(&path, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    let missing = format!("/products/{product}/notifications/rounds/9/claims");
    assert_error(
        &app.get(&missing, Some(&app.admin())).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/me/claims", Some(&app.admin())).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}
