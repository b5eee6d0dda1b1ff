//! Restock rounds when the provider fails or the server stops: CANCELED_BY_ERROR, operator
//! resume, and recovery from the checkpoint, never notifying anyone twice.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use crate::helpers::{TestApp, Tuning, assert_error, told};

crate::on_every_backend!(
    a_provider_failing_from_the_600th_request_cancels_the_round_and_resume_finishes_it_once,
    a_4xx_answer_is_not_retried_and_cancels_the_round,
    with_many_in_flight_a_failed_and_resumed_round_notifies_everyone_exactly_once,
    a_round_left_running_by_a_stopped_server_continues_after_restart_without_duplicates,
    a_round_whose_lease_lapsed_is_taken_over_from_its_checkpoint,
);

async fn a_provider_failing_from_the_600th_request_cancels_the_round_and_resume_finishes_it_once(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_from(Some(600), 500);
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 1000, 1)
        .await;

    let failed = app.restock_and_wait(product, None).await;

    assert_eq!(failed["status"], "CANCELED_BY_ERROR");
    assert_eq!(failed["last_sent_user_id"], line[598]);
    assert_eq!(failed["notified_count"], 599);
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("500") && error.contains("3 attempts"),
        "{error}"
    );
    // Two retries of the 600th person, nothing after it.
    let arrived = told(&receiver);
    assert_eq!(arrived.len(), 602);
    assert_eq!(&arrived[599..], &[line[599]; 3]);
    assert_eq!(app.recipients(product, 1, 1000).await, line[..599].to_vec());

    receiver.fail_from(None, 200);
    let (s, resumed) = app.resume_as(product, Some(&app.admin()), true).await;

    assert_eq!(s, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["round"], 1);
    assert_eq!(resumed["status"], "COMPLETED");
    assert_eq!(resumed["notified_count"], 1000);
    assert!(resumed["error"].is_null());
    assert_eq!(resumed["last_sent_user_id"], line[999]);
    assert_eq!(receiver.accepted_users(), line);
    assert_eq!(app.recipients(product, 1, 1000).await, line);
    let (_, p) = app.get(&format!("/products/{product}"), None).await;
    assert_eq!(p["restock_round"], 1);
    let again = app.resume_as(product, Some(&app.admin()), false).await;
    assert_error(&again, StatusCode::CONFLICT, "nothing_to_resume");
}

async fn a_4xx_answer_is_not_retried_and_cancels_the_round(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_from(Some(4), 400);
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::concurrency(1), 10, 1)
        .await;

    let failed = app.restock_and_wait(product, None).await;

    assert_eq!(failed["status"], "CANCELED_BY_ERROR");
    assert_eq!(failed["last_sent_user_id"], line[2]);
    assert!(
        failed["error"].as_str().unwrap().contains("400"),
        "{failed}"
    );
    assert_eq!(receiver.count(), 4);
}

async fn with_many_in_flight_a_failed_and_resumed_round_notifies_everyone_exactly_once(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.fail_from(Some(300), 503);
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 800, 1)
        .await;

    let failed = app.restock_and_wait(product, None).await;
    assert_eq!(failed["status"], "CANCELED_BY_ERROR");
    let first = receiver.accepted_users();
    assert_eq!(first.len(), 299);
    let last = failed["last_sent_user_id"].as_i64().unwrap();
    let run = line.iter().position(|u| *u == last).unwrap() + 1;
    // The unbroken run is a prefix of the line that everyone in it was notified.
    let first_set: HashSet<i64> = first.iter().copied().collect();
    assert!(line[..run].iter().all(|u| first_set.contains(u)));
    assert_eq!(failed["notified_count"], 299);

    receiver.fail_from(None, 200);
    let (s, resumed) = app.resume_as(product, Some(&app.admin()), true).await;

    assert_eq!(s, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "COMPLETED");
    assert_eq!(resumed["notified_count"], 800);
    let mut all = receiver.accepted_users();
    assert_eq!(all.len(), 800, "nobody notified twice");
    all.sort();
    let mut expected = line.clone();
    expected.sort();
    assert_eq!(all, expected);
    let listed = app.recipients(product, 1, 1000).await;
    assert_eq!(listed.len(), 800);
    assert_eq!(listed.iter().copied().collect::<HashSet<_>>().len(), 800);
}

async fn a_round_left_running_by_a_stopped_server_continues_after_restart_without_duplicates(
    app: TestApp,
) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(100));
    let tuning = Tuning::concurrency(16);
    let (app, line, product) = app.notifying_a_line(&receiver, tuning, 300, 1).await;
    let halfway = Arc::new(Notify::new());
    let signal = halfway.clone();
    receiver.set_hook(Arc::new(move |a| {
        let signal = signal.clone();
        Box::pin(async move {
            if a.seq == 40 {
                signal.notify_one();
            }
        })
    }));

    let (s, _) = app
        .restock_as(product, Some(&app.admin()), None, false)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    halfway.notified().await;
    let app = app.restart().await;
    let before_restart = receiver.count();
    assert!(
        before_restart < 300,
        "the round was still running when the server stopped"
    );

    let round = app.settle(product, 1).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(round["notified_count"], 300);
    let listed = app.recipients(product, 1, 1000).await;
    assert_eq!(listed, line);
    let mut arrived = receiver.accepted_users();
    assert_eq!(arrived.len(), 300, "nobody notified twice");
    arrived.sort();
    let mut expected = line.clone();
    expected.sort();
    assert_eq!(arrived, expected);
}

async fn a_round_whose_lease_lapsed_is_taken_over_from_its_checkpoint(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 30, 1)
        .await;
    let done = app.restock_and_wait(product, None).await;
    assert_eq!(done["status"], "COMPLETED");
    // Another instance opened round 2 and died holding it: its lease still blocks recovery.
    let other = dropline::domain::round::Lease {
        owner: "crashed-instance".into(),
        expires_at: app.state.clock.now() + chrono::Duration::seconds(30),
    };
    let pid = dropline::domain::ids::ProductId::from_db(product);
    let now = app.state.clock.now();
    app.state
        .store
        .open_round(pid, 0, &other, now)
        .await
        .unwrap();
    assert_eq!(app.state.notifier.recover_once().await.unwrap(), 0);
    assert_eq!(app.round(product, 2).await["status"], "IN_PROGRESS");

    app.state.clock.advance(Duration::from_secs(31));
    let round = app.settle(product, 2).await;

    assert_eq!(round["status"], "COMPLETED");
    assert_eq!(app.recipients(product, 2, 100).await, line);
}
