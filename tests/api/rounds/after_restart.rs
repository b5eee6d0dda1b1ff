//! A round left running by a server that died (killed, not stopped) continues as soon as the
//! service starts again on its database, not when the dead run's lease lapses.

use dropline::domain::ids::ProductId;
use dropline::domain::round::Lease;
use dropline::tools::mock_receiver::MockReceiver;
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

use crate::helpers::notifying_env;
use crate::helpers::process_client;
use crate::helpers::{
    KillWatch, TestApp, Tuning, assert_finished_exactly, restock_at, start, users,
};

crate::on_every_backend!(
    a_round_an_earlier_run_left_running_is_taken_at_start_up_whatever_its_lease,
    a_round_killed_mid_way_continues_within_five_seconds_of_the_restart,
);

async fn a_round_an_earlier_run_left_running_is_taken_at_start_up_whatever_its_lease(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let (app, line, product) = app
        .notifying_a_line(&receiver, Tuning::default(), 30, 1)
        .await;
    // An earlier run opened the round and died holding it, its lease good for 30 s more.
    let earlier = Lease {
        owner: "dropline-earlier-run".into(),
        expires_at: app.state.clock.now() + chrono::Duration::seconds(30),
    };
    let now = app.state.clock.now();
    app.state
        .store
        .open_round(ProductId::from_db(product), 0, &earlier, now)
        .await
        .unwrap();
    // While this instance runs, the lease alone decides: it does not take the round.
    assert_eq!(app.state.notifier.recover_once().await.unwrap(), 0);
    assert_eq!(receiver.count(), 0);

    // Started again, with the clock where it was: the round is this instance's at once.
    let app = app.restart().await;
    let round = app.settle(product, 1).await;

    assert_eq!(round["status"], "COMPLETED", "{round}");
    assert_eq!(round["notified_count"], 30);
    assert_eq!(app.recipients(product, 1, 100).await, line);
    let mut arrived = receiver.accepted_users();
    arrived.sort();
    let mut expected = line.clone();
    expected.sort();
    assert_eq!(arrived, expected, "everyone in line once");
}

async fn a_round_killed_mid_way_continues_within_five_seconds_of_the_restart(mut app: TestApp) {
    // Arrange: a line of 600 on the test's database, then real processes on it.
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(20));
    let line = users(600);
    let product = app.product_with_line(1_000, &line, json!({})).await;
    app.stop().await;
    // The lease is the default 30 s: only the start-up takeover can beat it.
    let env = notifying_env(app.settings.database.database_url.clone(), receiver.url());
    let client = process_client();
    let admin = app.admin();
    // Arrivals after this count are the restarted process's (none until it is set).
    let watch = KillWatch::on(&receiver, 100);
    let mut first = start(&env, "first", &client).await;
    let number = restock_at(&client, &first.base, &admin, product).await;

    // Act: SIGKILL mid-round, then start again on the same database.
    watch.reached.notified().await;
    first.child.kill().await.unwrap();
    let before = receiver.count();
    assert!(before < line.len(), "the round ended before the kill");
    let restarted_at = Instant::now();
    let mut second = start(&env, "second", &client).await;
    // Requests the dead process had sent are all in by the time the new one is ready.
    let seen = receiver.count() as u64;
    watch.mark.store(seen, Ordering::SeqCst);
    if receiver.count() as u64 == seen {
        tokio::time::timeout(Duration::from_secs(60), watch.fresh.notified())
            .await
            .expect("no notification after the restart");
    }

    // Assert: the line moved again within 5 s of the restart, and the round ends exactly.
    let arrivals = receiver.arrivals();
    let waited = arrivals[seen as usize].at - restarted_at;
    assert!(
        waited <= Duration::from_secs(5),
        "the first notification after the restart came after {waited:?}"
    );
    // Sent again: at most the requests in flight at the kill (16 here).
    assert_finished_exactly(
        &client,
        &second.base,
        &admin,
        product,
        number,
        &line,
        &receiver,
        16,
    )
    .await;
    let _ = second.child.kill().await;
}
