//! Signed notifications end to end: the receiver checks every signature with its own
//! HMAC-SHA256 (not the server's), across secret rotation, retries and `Retry-After` dates.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use dropline::config::Secret;
use dropline::tools::mock_receiver::{Arrival, MockReceiver};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::helpers::{TestApp, Tuning};

crate::on_every_backend!(
    every_notification_is_signed_with_the_configured_secret,
    while_rotating_each_secret_signs_the_request,
    a_retry_is_signed_anew_for_its_own_timestamp,
    a_429_with_an_http_date_retry_after_is_waited_for,
);

/// Two keys of 32 bytes, and their `whsec_` forms.
const KEY_A: [u8; 32] = [0x5a; 32];
const KEY_B: [u8; 32] = [0xc3; 32];

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `v1,` signature of one request, computed here from the Standard Webhooks recipe.
fn expected_signature(key: &[u8], id: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("fits")
}

impl TestApp {
    /// Restarts the app notifying `receiver`, signing with `secrets` (space-separated).
    async fn signing(self, receiver: &MockReceiver, secrets: &str, backoff_max_ms: u64) -> Self {
        let app = self.notifying(receiver, Tuning::default()).await;
        let secrets = secrets.to_owned();
        app.restart_with(move |s| {
            s.notify.notify_secret = Some(Secret::from(secrets.as_str()));
            s.notify.notify_backoff_max_ms = backoff_max_ms;
        })
        .await
    }
}

/// Asserts the headers of `a` carry exactly one signature per key in `keys`, in that order,
/// and returns its timestamp.
fn assert_signed(a: &Arrival, keys: &[&[u8]]) -> i64 {
    let id = a.webhook.id.as_deref().expect("webhook-id");
    assert!(!id.is_empty());
    assert_eq!(a.idempotency_key.as_deref(), Some(id));
    let ts = a.webhook.timestamp.as_deref().expect("webhook-timestamp");
    let signature = a.webhook.signature.as_deref().expect("webhook-signature");
    let expected: Vec<String> = keys
        .iter()
        .map(|k| expected_signature(k, id, ts, &a.body))
        .collect();
    assert_eq!(
        signature,
        expected.join(" "),
        "user {}",
        a.notification.user_id
    );
    ts.parse().expect("timestamp is whole seconds")
}

async fn every_notification_is_signed_with_the_configured_secret(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let app = app.signing(&receiver, &whsec(&KEY_A), 30_000).await;
    let line = [501, 502, 503];
    let product = app.product_with_line(0, &line, json!({})).await;

    let before = unix_now();
    let round = app.restock_and_wait(product, Some(10)).await;
    let after = unix_now();

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["notified_count"], 3);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 3);
    let mut ids = Vec::new();
    for a in &arrivals {
        let ts = assert_signed(a, &[&KEY_A]);
        assert!(
            (before..=after).contains(&ts),
            "{before} <= {ts} <= {after}"
        );
        ids.push(a.webhook.id.clone());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one webhook-id per notification");
    // A key the server does not hold verifies none of them.
    for a in &arrivals {
        let id = a.webhook.id.as_deref().unwrap();
        let ts = a.webhook.timestamp.as_deref().unwrap();
        assert_ne!(
            a.webhook.signature.as_deref(),
            Some(expected_signature(&KEY_B, id, ts, &a.body).as_str())
        );
    }
}

async fn while_rotating_each_secret_signs_the_request(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let secrets = format!("{} {}", whsec(&KEY_A), whsec(&KEY_B));
    let app = app.signing(&receiver, &secrets, 30_000).await;
    let product = app.product_with_line(0, &[601, 602], json!({})).await;

    let round = app.restock_and_wait(product, Some(10)).await;

    assert_eq!(round["status"], "COMPLETED");
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    for a in &arrivals {
        assert_signed(a, &[&KEY_A, &KEY_B]);
        let sigs: Vec<&str> = a.webhook.signature.as_deref().unwrap().split(' ').collect();
        assert_eq!(sigs.len(), 2);
        assert_ne!(sigs[0], sigs[1]);
    }
}

async fn a_retry_is_signed_anew_for_its_own_timestamp(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_first(1, 503);
    let app = app.signing(&receiver, &whsec(&KEY_A), 30_000).await;
    let product = app.product_with_line(0, &[701], json!({})).await;

    let round = app.restock_and_wait(product, Some(10)).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["notified_count"], 1);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    let (first, retry) = (&arrivals[0], &arrivals[1]);
    assert!(!first.accepted);
    assert!(retry.accepted);
    assert_eq!(first.notification.user_id, 701);
    assert_eq!(retry.notification.user_id, 701);
    assert_eq!(first.webhook.id, retry.webhook.id, "same message, same id");
    let ts_first = assert_signed(first, &[&KEY_A]);
    let ts_retry = assert_signed(retry, &[&KEY_A]);
    assert!(ts_retry >= ts_first, "{ts_retry} >= {ts_first}");
    // The retry's signature is its own: it matches one made with the first attempt's
    // timestamp only when both attempts fell in the same second, and the first attempt's
    // signature only when the body did not change either.
    let id = retry.webhook.id.as_deref().unwrap();
    let with_first_ts = expected_signature(
        &KEY_A,
        id,
        first.webhook.timestamp.as_deref().unwrap(),
        &retry.body,
    );
    assert_eq!(
        retry.webhook.signature.as_deref() == Some(with_first_ts.as_str()),
        ts_retry == ts_first
    );
    assert_eq!(
        retry.webhook.signature == first.webhook.signature,
        ts_retry == ts_first && retry.body == first.body
    );
}

async fn a_429_with_an_http_date_retry_after_is_waited_for(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let seen: Arc<Mutex<Vec<SystemTime>>> = Arc::default();
    let record = seen.clone();
    receiver.set_hook(Arc::new(move |_| {
        record.lock().unwrap().push(SystemTime::now());
        Box::pin(async {})
    }));
    // The base backoff is 1 ms, so only the date can hold the retry back this long.
    let app = app.signing(&receiver, &whsec(&KEY_A), 30_000).await;
    let product = app.product_with_line(0, &[801], json!({})).await;
    // Whole seconds: the date is between one and two seconds from now.
    let not_before = UNIX_EPOCH + Duration::from_secs(u64::try_from(unix_now() + 2).unwrap());
    receiver.set_retry_after(Some(httpdate::fmt_http_date(not_before)));
    receiver.fail_first(1, 429);

    let round = app.restock_and_wait(product, Some(10)).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["notified_count"], 1);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2);
    assert!(!arrivals[0].accepted);
    assert!(arrivals[1].accepted);
    assert_eq!(arrivals[1].notification.user_id, 801);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[0] < not_before,
        "the first attempt came before the date"
    );
    assert!(
        seen[1] >= not_before,
        "the retry came {:?} before the Retry-After date",
        not_before.duration_since(seen[1]).unwrap_or_default()
    );
}
