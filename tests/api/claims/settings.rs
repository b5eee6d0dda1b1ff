//! The product's alert settings, and what a broadcast round says of claims.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, Tuning, bodies};

crate::on_every_backend!(
    alert_settings_are_set_at_creation_and_changed_by_patch_for_the_next_round,
    a_broadcast_round_shows_no_claims_and_its_alerts_carry_none,
);

async fn alert_settings_are_set_at_creation_and_changed_by_patch_for_the_next_round(app: TestApp) {
    let created = app
        .create_product(json!({"alert_mode": "claim", "claim_seconds": 5}))
        .await;
    assert_eq!(created["alert_mode"], "claim");
    assert_eq!(created["claim_seconds"], 5);
    let id = created["id"].as_i64().unwrap();
    let (s, patched) = app
        .patch(
            &format!("/products/{id}"),
            Some(&app.admin()),
            json!({"claim_seconds": 86_400}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["alert_mode"], "claim");
    assert_eq!(patched["claim_seconds"], 86_400);
    let (s, back) = app
        .patch(
            &format!("/products/{id}"),
            Some(&app.admin()),
            json!({"alert_mode": "broadcast"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{back}");
    assert_eq!(back["alert_mode"], "broadcast");
    assert_eq!(back["claim_seconds"], 86_400);
    let (_, read) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(read, back);
}

async fn a_broadcast_round_shows_no_claims_and_its_alerts_carry_none(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, _line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 3, 0)
        .await;
    let round = app.restock_and_wait(product, Some(5)).await;
    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["alert_mode"], "broadcast");
    assert_eq!(
        round["claims"],
        json!({"open": 0, "used": 0, "expired": 0, "released": 0})
    );
    for body in bodies(&receiver) {
        assert_eq!(body["kind"], "restock", "{body}");
        assert!(body["claim_expires_at"].is_null(), "{body}");
        assert!(body.as_object().unwrap().contains_key("claim_expires_at"));
    }
    assert_eq!(receiver.count(), 3);
    assert_eq!(
        app.claims(product, 1, 10).await,
        Vec::<serde_json::Value>::new()
    );
    assert_eq!(app.stock(product).await, 5);
}
