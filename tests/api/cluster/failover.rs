//! Rounds are owned by live instances: a round whose owner's heartbeat lapsed is taken at once,
//! not when its lease lapses, and a live owner keeps its round.

use dropline::coord::stock::{HEARTBEAT_TTL, RedisStock};
use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

use crate::helpers::notifying_env;
use crate::helpers::process_client;
use crate::helpers::restock_at;
use crate::helpers::{Db, DbHandle};
use crate::helpers::{
    KillWatch, SECRET, TestApp, Tuning, assert_finished_exactly, send, signal_at, start, users,
    uuid_like,
};

crate::on_every_cluster!(
    a_round_whose_owner_has_no_heartbeat_is_taken_at_once_whatever_its_lease,
    a_live_owner_keeps_its_round,
);

async fn wire(apps: Vec<TestApp>, receiver: &MockReceiver, concurrency: u32) -> Vec<TestApp> {
    let mut wired = Vec::new();
    for app in apps {
        let tuning = Tuning {
            rate: 400,
            concurrency,
            max_retries: 2,
        };
        wired.push(app.notifying(receiver, tuning).await);
    }
    wired
}

async fn a_round_whose_owner_has_no_heartbeat_is_taken_at_once_whatever_its_lease(
    apps: Vec<TestApp>,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let mut apps = wire(apps, &receiver, 8).await;
    // One instance left running, so the one that takes the round is known.
    apps[0].stop().await;
    apps[2].stop().await;
    let app = &apps[1];
    // An instance opened the round and died: no heartbeat, its lease good for 30 s more.
    let (product, line) = super::round_left_by_a_gone_instance(app, 30, 30).await;

    // No clock moves: only the missing heartbeat lets the round go on.
    let round = app.settle(product, 1).await;

    assert_eq!(round["status"], "COMPLETED", "{round}");
    assert_eq!(round["notified_count"], 30);
    assert_eq!(app.recipients(product, 1, 100).await, line);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 30, "nobody notified twice");
    let distinct: HashSet<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(distinct, line.iter().copied().collect::<HashSet<_>>());
}

async fn a_live_owner_keeps_its_round(apps: Vec<TestApp>) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(20));
    let apps = wire(apps, &receiver, 8).await;
    let line = users(300);
    let product = apps[0].product_with_line(1_000, &line, json!({})).await;
    let fiftieth = signal_at(&receiver, 50);
    let round = apps[0].restock_accepted(product, None).await;
    let number = round["round"].as_i64().unwrap();
    fiftieth.notified().await;

    // The other instances look for rounds to take while the owner is mid-round.
    for other in &apps[1..] {
        assert_eq!(other.state.notifier.recover_once().await.unwrap(), 0);
        assert!(
            other
                .state
                .notifier
                .watch(ProductId::from_db(product), number)
                .is_none()
        );
    }
    let owners = apps[1].state.store.round_owners("nobody").await.unwrap();
    assert_eq!(owners, vec!["instance-0".to_owned()]);

    let ended = apps[0].settle(product, number).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["notified_count"], 300);
    assert_eq!(apps[0].recipients(product, number, 1000).await, line);
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 300, "nobody notified twice");
}

crate::on_each_database!(the_owner_killed_on: sqlite_the_owner_killed_another_process_continues_within_heartbeat_lapse_plus_five_seconds, mysql_the_owner_killed_another_process_continues_within_heartbeat_lapse_plus_five_seconds;);

/// The case below on a fresh database of `db`, when it and Redis are configured here.
async fn the_owner_killed_on(db: Db) {
    let Some(redis) = crate::helpers::redis_url() else {
        return;
    };
    let Some(database) = DbHandle::new(db).await else {
        return;
    };
    the_owner_killed_another_process_continues(database.url(), redis).await;
}

/// Two real processes; the one running a round is killed (SIGKILL) mid-round.
async fn the_owner_killed_another_process_continues(database_url: String, redis: String) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(20));
    let prefix = format!("dropline-failover-{}", uuid_like());
    // The lease is the default 30 s: only the lapsed heartbeat can hand the round over sooner.
    let mut env = notifying_env(database_url.clone(), receiver.url());
    env.push(("DROPLINE_REDIS_URL", redis.clone()));
    env.push(("DROPLINE_REDIS_PREFIX", prefix.clone()));
    let client = process_client();
    let mut owner = start(&env, "owner", &client).await;
    let mut survivor = start(&env, "survivor", &client).await;
    let admin = dropline::auth::TokenKeys::new(SECRET.as_bytes())
        .mint(dropline::auth::Principal::Admin, Duration::from_secs(600))
        .unwrap();
    let post = reqwest::Method::POST;
    let (s, brand) = send(
        &client,
        post.clone(),
        format!("{}/brands", owner.base),
        &admin,
        Some(json!({"name": "Helinox", "category": "camping"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{brand}");
    let (s, product) = send(
        &client,
        post.clone(),
        format!("{}/products", owner.base),
        &admin,
        Some(
            json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000, "stock": 1000}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{product}");
    let pid = product["id"].as_i64().unwrap();
    let line = users(600);
    let (s, b) = send(
        &client,
        post.clone(),
        format!("{}/admin/products/{pid}/subscriptions/import", owner.base),
        &admin,
        Some(json!({"user_ids": line})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Arrivals after this count are the survivor's (none until it is set).
    let watch = KillWatch::on(&receiver, 100);
    let number = restock_at(&client, &owner.base, &admin, pid).await;

    // The owner is killed mid-round; its heartbeat lapses within HEARTBEAT_TTL.
    watch.reached.notified().await;
    owner.child.kill().await.unwrap();
    let killed_at = Instant::now();
    assert!(
        receiver.count() < line.len(),
        "the round ended before the kill"
    );
    let conn = redis::Client::open(redis.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .unwrap();
    let deployment = dropline::store::connect(&database_url, &tokio_util::task::TaskTracker::new())
        .await
        .unwrap()
        .deployment_id()
        .await
        .unwrap();
    let heartbeats = RedisStock::new(conn, &prefix, &deployment, "observer");
    assert!(heartbeats.is_alive("survivor").await.unwrap());
    let mut lapsed_at = None;
    for _ in 0..200 {
        if !heartbeats.is_alive("owner").await.unwrap() {
            lapsed_at = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lapsed_at = lapsed_at.expect("the killed owner's heartbeat never lapsed");
    assert!(lapsed_at - killed_at <= HEARTBEAT_TTL + Duration::from_secs(1));
    let seen = receiver.count() as u64;
    watch.mark.store(seen, Ordering::SeqCst);
    if receiver.count() as u64 == seen {
        tokio::time::timeout(Duration::from_secs(60), watch.fresh.notified())
            .await
            .expect("the survivor never continued the round");
    }

    let waited = receiver.arrivals()[seen as usize].at - lapsed_at;
    assert!(
        waited <= Duration::from_secs(5),
        "the survivor continued {waited:?} after the owner's heartbeat lapsed"
    );
    assert_finished_exactly(
        &client,
        &survivor.base,
        &admin,
        pid,
        number,
        &line,
        &receiver,
        16,
    )
    .await;
    let _ = survivor.child.kill().await;
}
