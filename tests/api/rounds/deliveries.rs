//! The delivery log: every attempt the receiver saw, with its webhook-id, status and
//! outcome, read per round and per notification; and a claim's alert outlived by its
//! retries is logged `expired`, never sent.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{CLAIM_SECONDS, TestApp, Tuning, assert_error, assert_invalid, users};

crate::on_every_backend!(
    the_delivery_log_lists_every_attempt_the_receiver_saw,
    the_delivery_log_is_for_the_admin_and_the_owning_brand,
    a_claim_alert_whose_claim_expired_during_its_retries_is_logged_expired_and_never_sent,
    attempts_older_than_the_retention_are_swept,
    a_replay_sends_the_same_notification_again_and_logs_it,
);

/// Every attempt of a round, following pages of `limit`, with the filter `query`.
async fn deliveries(
    app: &TestApp,
    product: i64,
    round: i64,
    query: &str,
    limit: u32,
) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!(
            "/admin/products/{product}/rounds/{round}/deliveries?limit={limit}{query}{cursor}"
        );
        let (s, page) = app.get(&path, Some(&app.admin())).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        all.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return all,
        }
    }
}

fn texts(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|d| d[key].as_str().expect(key).to_owned())
        .collect()
}

async fn the_delivery_log_lists_every_attempt_the_receiver_saw(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_from(Some(6), 503);
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 10, 1)
        .await;

    let failed = app.restock_and_wait(product, None).await;
    assert_eq!(failed["status"], "CANCELED_BY_ERROR");

    // Five delivered, then the sixth person three times (two retries), all in order.
    let seen = receiver.arrivals();
    assert_eq!(seen.len(), 8);
    let logged = deliveries(&app, product, 1, "", 3).await;
    assert_eq!(logged.len(), 8, "{logged:?}");
    let ids: Vec<String> = seen
        .iter()
        .map(|a| a.idempotency_key.clone().expect("key"))
        .collect();
    assert_eq!(texts(&logged, "webhook_id"), ids);
    let statuses: Vec<i64> = logged
        .iter()
        .map(|d| d["http_status"].as_i64().unwrap())
        .collect();
    let answered: Vec<i64> = seen
        .iter()
        .map(|a| if a.accepted { 200 } else { 503 })
        .collect();
    assert_eq!(statuses, answered);
    assert_eq!(
        texts(&logged, "outcome"),
        ["delivered"; 5]
            .into_iter()
            .chain(["pending", "pending", "failed"])
            .collect::<Vec<_>>()
    );
    let users: Vec<i64> = logged
        .iter()
        .map(|d| d["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(&users[..5], &line[..5]);
    assert_eq!(&users[5..], &[line[5]; 3]);
    assert!(
        logged[7]["error"].as_str().unwrap().contains("503"),
        "{}",
        logged[7]
    );
    assert!(logged[0]["error"].is_null());
    assert!(
        logged
            .iter()
            .all(|d| d["kind"] == "restock" && d["round"] == 1 && d["sent_by"] == "engine")
    );
    assert!(
        logged
            .iter()
            .all(|d| d["latency_ms"].as_i64().unwrap() >= 0)
    );

    // The filter, and every attempt at the sixth person's alert, numbered.
    let failed_only = deliveries(&app, product, 1, "&outcome=failed", 100).await;
    assert_eq!(texts(&failed_only, "webhook_id"), [ids[7].clone()]);
    assert_eq!(
        deliveries(&app, product, 1, "&outcome=pending", 1)
            .await
            .len(),
        2
    );
    assert_eq!(
        deliveries(&app, product, 1, "&outcome=delivered", 100)
            .await
            .len(),
        5
    );
    let (s, one) = app
        .get(&format!("/admin/deliveries/{}", ids[5]), Some(&app.admin()))
        .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["webhook_id"], ids[5].as_str());
    let attempts = one["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    let numbers: Vec<i64> = attempts
        .iter()
        .map(|a| a["attempt"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert_eq!(texts(attempts, "outcome"), ["pending", "pending", "failed"]);
    let (s, first) = app
        .get(&format!("/admin/deliveries/{}", ids[0]), Some(&app.admin()))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(first["attempts"][0]["attempt"], 1);
    assert_eq!(first["attempts"][0]["outcome"], "delivered");

    // Bad input and unknown ids.
    let path = format!("/admin/products/{product}/rounds/1/deliveries?outcome=lost");
    assert_invalid(&app.get(&path, Some(&app.admin())).await, "outcome");
    let path = format!("/admin/products/{product}/rounds/1/deliveries?cursor=x");
    assert_invalid(&app.get(&path, Some(&app.admin())).await, "cursor");
    let path = format!("/admin/products/{product}/rounds/9/deliveries");
    let missing = app.get(&path, Some(&app.admin())).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    let missing = app
        .get("/admin/deliveries/nope-1-2", Some(&app.admin()))
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
}

async fn the_delivery_log_is_for_the_admin_and_the_owning_brand(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, _, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 3, 1)
        .await;
    let done = app.restock_and_wait(product, None).await;
    assert_eq!(done["status"], "COMPLETED");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    let owner = app.brand(p["brand_ids"][0].as_i64().expect("brand"));
    let path = format!("/admin/products/{product}/rounds/1/deliveries");
    let (s, page) = app.get(&path, Some(&owner)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 3);
    let id = page["items"][0]["webhook_id"].as_str().unwrap().to_owned();
    let user = app.user(77);
    let refused = app.get(&path, Some(&user)).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    let refused = app
        .get(&format!("/admin/deliveries/{id}"), Some(&owner))
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    let refused = app.get(&path, None).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn a_claim_alert_whose_claim_expired_during_its_retries_is_logged_expired_and_never_sent(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_first(1, 503);
    let line = users(1);
    let (app, product) = app.claim_setup_one_at_a_time(&receiver, &line).await;
    // The first answer fails, and by the time it comes the claim has run out.
    let clock = app.state.clock.clone();
    receiver.set_hook(Arc::new(move |a| {
        if a.seq == 1 {
            clock.advance(Duration::from_secs(CLAIM_SECONDS as u64 + 1));
        }
        Box::pin(async {})
    }));

    app.restock_now(product, 1).await;
    receiver.wait_for(1).await;
    app.expire_claims().await;
    let ended = tokio::time::timeout(Duration::from_secs(30), app.settle(product, 1))
        .await
        .expect("the round ends");
    assert_eq!(ended["status"], "COMPLETED", "{ended}");

    assert_eq!(receiver.count(), 1, "the alert was never sent again");
    let logged = deliveries(&app, product, 1, "", 100).await;
    assert_eq!(
        texts(&logged, "outcome"),
        ["pending", "expired"],
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .all(|d| d["kind"] == "claim" && d["user_id"] == line[0])
    );
    assert_eq!(logged[0]["http_status"], 503);
    assert!(logged[1]["http_status"].is_null());
    let id = logged[0]["webhook_id"].as_str().unwrap();
    let path = format!("/admin/deliveries/{id}/replay");
    let refused = app
        .post(&path, Some(&app.admin()), serde_json::json!({}))
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "not_replayable");
    assert_eq!(receiver.count(), 1);
    assert_eq!(
        app.claim_states(product, 1).await,
        [(line[0], "EXPIRED".to_owned())]
    );
}

async fn attempts_older_than_the_retention_are_swept(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, _, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 5, 1)
        .await;
    app.restock_and_wait(product, None).await;
    assert_eq!(deliveries(&app, product, 1, "", 100).await.len(), 5);
    let shop = app.state.shop();

    app.state.clock.advance(Duration::from_secs(29 * 24 * 3600));
    let kept = dropline::shop::deliveries::sweep(&shop, 30).await.unwrap();
    assert_eq!(kept, 0);
    assert_eq!(deliveries(&app, product, 1, "", 100).await.len(), 5);

    app.state.clock.advance(Duration::from_secs(2 * 24 * 3600));
    let gone = dropline::shop::deliveries::sweep(&shop, 30).await.unwrap();
    assert_eq!(gone, 5);
    assert!(deliveries(&app, product, 1, "", 100).await.is_empty());
}

async fn a_replay_sends_the_same_notification_again_and_logs_it(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_from(Some(2), 503);
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 3, 1)
        .await;
    let failed = app.restock_and_wait(product, None).await;
    assert_eq!(failed["status"], "CANCELED_BY_ERROR");
    let seen = receiver.arrivals();
    assert_eq!(seen.len(), 4);
    let id = seen[1].idempotency_key.clone().unwrap();

    receiver.fail_from(None, 200);
    let path = format!("/admin/deliveries/{id}/replay");
    let (s, replayed) = app
        .post(&path, Some(&app.admin()), serde_json::json!({}))
        .await;

    assert_eq!(s, StatusCode::OK, "{replayed}");
    let attempts = replayed["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[3]["attempt"], 4);
    assert_eq!(attempts[3]["outcome"], "delivered");
    assert_eq!(attempts[3]["sent_by"], "replay");
    assert_eq!(attempts[3]["http_status"], 200);
    let again = receiver.arrivals();
    assert_eq!(again.len(), 5);
    let last = &again[4];
    assert_eq!(last.idempotency_key.as_deref(), Some(id.as_str()));
    assert_eq!(last.notification.user_id, line[1]);
    assert!(last.accepted);
    // The same body but for a fresh sent_at.
    let mut before: Value = serde_json::from_slice(&seen[1].body).unwrap();
    let mut after: Value = serde_json::from_slice(&last.body).unwrap();
    assert!(before["sent_at"].is_string() && after["sent_at"].is_string());
    before["sent_at"] = Value::Null;
    after["sent_at"] = Value::Null;
    assert_eq!(before, after);
    // The round itself is untouched: a replay is not a resume.
    let round = app.round(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_ERROR");
    assert_eq!(round["notified_count"], 1);

    let missing = app
        .post(
            "/admin/deliveries/nope/replay",
            Some(&app.admin()),
            serde_json::json!({}),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found");
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    let owner = app.brand(p["brand_ids"][0].as_i64().expect("brand"));
    let refused = app.post(&path, Some(&owner), serde_json::json!({})).await;
    assert_error(&refused, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(receiver.count(), 5);
}
