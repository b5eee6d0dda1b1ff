//! The admin event stream: it follows a round to its end, is for admins only, and ends when
//! the server stops or the token expires; and the round metrics after a round.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{EventStream, TestApp, Tuning, assert_error, sample};

crate::on_every_backend!(
    the_event_stream_follows_a_round_to_its_final_status,
    the_event_stream_is_for_admins_only,
    metrics_count_notifications_and_rounds_after_a_round,
    an_open_event_stream_ends_when_the_server_stops,
    an_open_event_stream_ends_when_its_token_expires,
);

async fn the_event_stream_follows_a_round_to_its_final_status(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let users: Vec<i64> = (1..=30).collect();
    let product = app.product_with_line(0, &users, json!({})).await;
    let mut events = EventStream::open(&app).await;

    let _b = app.restock_accepted(product, Some(3)).await;

    let mut seen = Vec::new();
    let last = loop {
        let (name, e) = events.next().await;
        assert_eq!(name, "round");
        if e["product_id"] != product {
            continue;
        }
        seen.push(e.clone());
        if e["status"] != "IN_PROGRESS" {
            break e;
        }
    };
    assert_eq!(seen[0]["status"], "IN_PROGRESS");
    assert_eq!(seen[0]["notified_count"], 0);
    assert_eq!(seen[0]["stock"], 3);
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["round"], 1);
    assert_eq!(last["notified_count"], 30);
    assert_eq!(last["started_count"], 30);
    assert_eq!(last["last_sent_user_id"], 30);
    assert_eq!(last["stock"], 3);
    assert!(last["busiest_second"].as_i64().unwrap() >= 1, "{last}");
    assert!(last["error"].is_null());
    // Counts never go backwards along the way.
    let counts: Vec<i64> = seen
        .iter()
        .map(|e| e["notified_count"].as_i64().unwrap())
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
}

async fn the_event_stream_is_for_admins_only(app: TestApp) {
    let got = app.get("/admin/events", None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app.get("/admin/events?token=not-a-token", None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    let got = app
        .get(&format!("/admin/events?token={}", app.user(1)), None)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.get("/admin/events", Some(&app.brand(1))).await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
}

async fn metrics_count_notifications_and_rounds_after_a_round(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.notifying(&receiver, Tuning::default()).await;
    let product = app
        .product_with_line(0, &(1..=12).collect::<Vec<_>>(), json!({}))
        .await;
    let id = product.to_string();
    let value = |scrape: &str, name: &str, labels: &[(&str, &str)]| {
        sample(scrape, name, labels).unwrap_or(0.0)
    };
    let before = app.scrape().await;
    let round = app.restock_and_wait(product, Some(2)).await;
    assert_eq!(round["status"], "COMPLETED");
    receiver.fail_from(Some(1), 400);
    let (s, b) = app
        .restock_as(product, Some(&app.admin()), Some(1), true)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "CANCELED_BY_ERROR");
    let after = app.scrape().await;

    // Other tests in this process share the recorder (and product ids): compare growth.
    let grew = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (a, b) = (value(&before, name, labels), value(&after, name, labels));
        assert!(b >= a + by, "{name}{labels:?}: {a} -> {b}");
    };
    let p = [("product_id", id.as_str())];
    grew("dropline_notifications_started_total", &p, 13.0);
    grew("dropline_notifications_succeeded_total", &p, 12.0);
    grew("dropline_notifications_failed_total", &p, 1.0);
    grew("dropline_rounds_total", &[("status", "IN_PROGRESS")], 2.0);
    grew("dropline_rounds_total", &[("status", "COMPLETED")], 1.0);
    grew(
        "dropline_rounds_total",
        &[("status", "CANCELED_BY_ERROR")],
        1.0,
    );
    assert!(after.contains("dropline_notification_send_rate"));
}

async fn an_open_event_stream_ends_when_the_server_stops(mut app: TestApp) {
    let mut events = EventStream::open(&app).await;
    // A stream that never ended would hold the graceful shutdown forever.
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("the server stops with a stream open");
    events.ends_within_10_s("the stream ends").await;
}

async fn an_open_event_stream_ends_when_its_token_expires(app: TestApp) {
    // A token with between half a second and a second and a half left.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let exp = (now + std::time::Duration::from_millis(1500)).as_secs();
    let token = app
        .keys
        .sign(&json!({"role": "admin", "exp": exp}))
        .unwrap();
    let resp = app
        .get_authorized("/admin/events", &format!("bearer {token}"))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut events = EventStream::from_response(resp);
    assert_eq!(events.next().await.0, "ready");
    events
        .ends_within_10_s("the stream ends once its token expires")
        .await;
    let ended = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    assert!(
        ended.as_secs() >= exp,
        "ended at {ended:?}, token valid until {exp}"
    );
    // The server itself goes on: a fresh token opens a new stream.
    EventStream::open(&app).await;
}
