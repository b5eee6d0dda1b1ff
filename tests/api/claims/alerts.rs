//! A claim round's alerts: started in claim order, several in flight at once up to the
//! engine's bound, so a slow provider does not make the line wait one answer at a time; and
//! a claim is made only once its alert can go out, so the holder's time starts when told.

use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::MockReceiver;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::watch;

use crate::helpers::{TestApp, Tuning, told, told_sorted, users};

crate::on_every_backend!(
    a_slow_provider_gets_a_claim_rounds_alerts_together_up_to_the_in_flight_bound,
    with_one_alert_in_flight_the_receiver_sees_the_claims_in_line_order,
    a_claim_is_made_only_once_its_alert_can_go_out,
);

/// Alerts the receiver holds at once, and the most it held.
#[derive(Default)]
struct Held {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// Counts a held request down when its handler ends, also when the sender gave up on it.
struct Holding(Arc<Held>);

impl Holding {
    fn start(held: &Arc<Held>) -> Self {
        let now = held.now.fetch_add(1, Ordering::SeqCst) + 1;
        held.most.fetch_max(now, Ordering::SeqCst);
        Self(held.clone())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn a_slow_provider_gets_a_claim_rounds_alerts_together_up_to_the_in_flight_bound(
    app: TestApp,
) {
    const IN_FLIGHT: usize = 4;
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(10);
    let tuning = Tuning {
        concurrency: IN_FLIGHT as u32,
        ..Tuning::default()
    };
    let (app, product) = app
        .claim_setup_tuned(&receiver, &line, json!({}), tuning)
        .await;
    // The provider answers nobody until it holds IN_FLIGHT alerts at once (or, when the
    // alerts come one at a time, until two seconds passed: well within the sender's timeout,
    // and the count below then shows one).
    let held = Arc::new(Held::default());
    let (open, opened) = watch::channel(false);
    let open = Arc::new(open);
    let (hold, gate) = (held.clone(), open.clone());
    receiver.set_hook(Arc::new(move |_| {
        let (held, open, mut opened) = (hold.clone(), gate.clone(), opened.clone());
        Box::pin(async move {
            let _holding = Holding::start(&held);
            if held.now.load(Ordering::SeqCst) >= IN_FLIGHT {
                open.send_replace(true);
            }
            let _ = tokio::time::timeout(Duration::from_secs(2), opened.wait_for(|o| *o)).await;
        })
    }));

    app.restock_now(product, 6).await;
    receiver.wait_for(6).await;

    assert_eq!(held.most.load(Ordering::SeqCst), IN_FLIGHT);
    assert!(*open.borrow());
    // Six claims in line order, each told once.
    let holders: Vec<i64> = app
        .claim_states(product, 1)
        .await
        .into_iter()
        .map(|(user, _)| user)
        .collect();
    assert_eq!(holders, line[..6]);
    assert_eq!(told_sorted(&receiver), line[..6]);
    assert_eq!(receiver.count(), 6);
    for user in &line[..6] {
        app.reserve(product, *user).await;
    }
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(round["notified_count"], 6);
    assert_eq!(app.recipients(product, 1, 100).await, line[..6]);
}

async fn with_one_alert_in_flight_the_receiver_sees_the_claims_in_line_order(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(8);
    let (app, product) = app.claim_setup_one_at_a_time(&receiver, &line).await;
    app.leave(product, line[2]).await;
    let expected: Vec<i64> = line.iter().copied().filter(|u| *u != line[2]).collect();

    app.restock_now(product, 5).await;
    receiver.wait_for(5).await;

    assert_eq!(told(&receiver), expected[..5]);
    assert_eq!(app.recipients(product, 1, 100).await, expected[..5]);
}

async fn a_claim_is_made_only_once_its_alert_can_go_out(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(5);
    let (app, product) = app.claim_setup_one_at_a_time(&receiver, &line).await;
    // Each alert, as it arrives, reads how many claims the round has made by then.
    let (seen, mut made_when_told) = watch::channel(Vec::<i64>::new());
    let (store, seen) = (app.state.store.clone(), Arc::new(seen));
    let pid = ProductId::from_db(product);
    receiver.set_hook(Arc::new(move |_| {
        let (store, seen) = (store.clone(), seen.clone());
        Box::pin(async move {
            let (c, _) = store.claims_now(pid, 1).await.expect("claims");
            seen.send_modify(|v| v.push(c.open + c.used + c.expired + c.released));
        })
    }));

    app.restock_now(product, 3).await;
    let made = made_when_told
        .wait_for(|v| v.len() == 3)
        .await
        .expect("three alerts")
        .clone();

    // With one alert in flight, the next claim waits for the alert before it: three units
    // were free from the start, yet no claim was made ahead of its alert.
    assert_eq!(made, vec![1, 2, 3]);
    // Each holder was told the expiry the claim keeps.
    let claims = app.claims(product, 1, 100).await;
    for (body, claim) in crate::helpers::bodies(&receiver).iter().zip(&claims) {
        assert_eq!(body["user_id"], claim["user_id"], "{body}");
        let told = chrono::DateTime::parse_from_rfc3339(body["claim_expires_at"].as_str().unwrap());
        let kept = chrono::DateTime::parse_from_rfc3339(claim["expires_at"].as_str().unwrap());
        assert_eq!(told.unwrap(), kept.unwrap(), "{body}");
    }
}
