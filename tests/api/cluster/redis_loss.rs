//! A Redis that lost its data (restarted empty) holds no heartbeat of anyone, live or dead.
//! No instance then takes a live owner's round: a missing heartbeat is not a dead owner until
//! the heartbeats can be believed again, one heartbeat lifetime later. A dead owner's round
//! is still taken as soon as they can.

use dropline::coord::stock::{HEARTBEAT_TTL, Liveness, RedisStock};
use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::MockReceiver;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, watch};

use crate::helpers::{TestApp, Tuning, users};

crate::on_every_cluster!(
    a_redis_wiped_mid_round_hands_no_live_owners_round_to_another_instance,
    a_dead_owners_round_is_taken_once_the_heartbeats_are_believed_again,
);

/// Two of the instances, wired to `receiver`; the third is stopped.
async fn two_instances(apps: Vec<TestApp>, receiver: &MockReceiver) -> Vec<TestApp> {
    let mut wired = Vec::new();
    for app in apps {
        let tuning = Tuning {
            rate: 400,
            concurrency: 8,
            max_retries: 2,
        };
        wired.push(app.notifying(receiver, tuning).await);
    }
    wired[2].stop().await;
    wired.truncate(2);
    wired
}

fn redis(app: &TestApp) -> &Arc<RedisStock> {
    app.state.gate.shared_backend().expect("a shared gate")
}

async fn a_redis_wiped_mid_round_hands_no_live_owners_round_to_another_instance(
    apps: Vec<TestApp>,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let apps = two_instances(apps, &receiver).await;
    let line = users(120);
    let product = apps[0].product_with_line(1_000, &line, json!({})).await;
    // The receiver holds every notification from the 40th on until the gate opens.
    let reached = Arc::new(Notify::new());
    let (open, gate) = watch::channel(false);
    let signal = reached.clone();
    receiver.set_hook(Arc::new(move |a| {
        let (signal, mut gate) = (signal.clone(), gate.clone());
        Box::pin(async move {
            if a.seq >= 40 {
                if a.seq == 40 {
                    signal.notify_one();
                }
                let _ = gate.wait_for(|open| *open).await;
            }
        })
    }));
    let round = apps[0].restock_accepted(product, None).await;
    let number = round["round"].as_i64().unwrap();
    reached.notified().await;

    // Redis restarts empty while instance-0 runs the round.
    assert!(apps[0].wipe_redis().await > 0);
    let other = &apps[1];
    let pid = ProductId::from_db(product);
    // The other instance looks for rounds to take before its heartbeat is renewed, after it,
    // and after the owner's: the owner is alive throughout.
    assert_eq!(other.state.notifier.recover_once().await.unwrap(), 0);
    redis(other).heartbeat().await.unwrap();
    assert_eq!(other.state.notifier.recover_once().await.unwrap(), 0);
    redis(&apps[0]).heartbeat().await.unwrap();
    assert_eq!(other.state.notifier.recover_once().await.unwrap(), 0);
    assert_eq!(redis(other).liveness().await.unwrap(), Liveness::Unknown);
    assert!(other.state.notifier.watch(pid, number).is_none());
    let owners = other.state.store.round_owners("nobody").await.unwrap();
    assert_eq!(
        owners,
        vec!["instance-0".to_owned()],
        "the round changed hands"
    );

    open.send_replace(true);
    let ended = apps[0].settle(product, number).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["notified_count"], 120);
    assert_eq!(apps[0].recipients(product, number, 1000).await, line);
    let arrivals = receiver.arrivals();
    let distinct: HashSet<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(distinct, line.iter().copied().collect::<HashSet<_>>());
    assert_eq!(arrivals.len(), line.len(), "somebody was notified twice");
}

async fn a_dead_owners_round_is_taken_once_the_heartbeats_are_believed_again(apps: Vec<TestApp>) {
    let receiver = MockReceiver::start().await.unwrap();
    let mut apps = two_instances(apps, &receiver).await;
    // One instance left running, so the one that takes the round is known.
    apps[0].stop().await;
    let app = &apps[1];
    // An instance opened the round and died; Redis then lost its data.
    let (product, line) = super::round_left_by_a_gone_instance(app, 30, 60).await;
    assert!(app.wipe_redis().await > 0);
    redis(app).heartbeat().await.unwrap();
    assert_eq!(app.state.notifier.recover_once().await.unwrap(), 0);
    let owners = app.state.store.round_owners("nobody").await.unwrap();
    assert_eq!(owners, vec!["instance-gone".to_owned()]);

    // One heartbeat lifetime later the heartbeats are believed again (each instance renewed
    // its own meanwhile), and the dead owner's round is taken, long before its lease lapses.
    let mut believed = false;
    for _ in 0..(HEARTBEAT_TTL.as_millis() / 100 + 50) {
        if matches!(redis(app).liveness().await.unwrap(), Liveness::Known(_)) {
            believed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(believed, "the heartbeats stayed in doubt");
    let round = app.settle(product, 1).await;
    assert_eq!(round["status"], "COMPLETED", "{round}");
    assert_eq!(app.recipients(product, 1, 100).await, line);
    assert_eq!(
        receiver.arrivals().len(),
        line.len(),
        "nobody notified twice"
    );
}
