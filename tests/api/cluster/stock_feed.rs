//! Stock changes made through one instance reach the others' gates and rounds: each change goes
//! through an instance other than the one that watches it or runs the round.

use dropline::auth::TokenKeys;
use dropline::coord::stock::{FeedState, RedisStock, StockMessage};
use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::{Hook, MockReceiver};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{SECRET, TestApp, Tuning, final_event, order_as_buyer, started_so_far, users};

crate::on_every_cluster!(
    every_stock_change_through_one_instance_reaches_the_others_at_once,
    a_round_stops_with_no_start_after_a_sell_out_through_another_instance,
    a_unit_released_through_another_instance_is_offered_by_the_claim_round_at_once,
    a_change_version_above_2_pow_53_is_published_and_mirrored_exactly,
    an_instance_whose_feed_falls_silent_says_so_and_reads_the_counters,
    an_unreadable_message_is_counted_and_said,
);

/// The instance's view of the stock-change feed.
fn feed_of(app: &TestApp) -> &dropline::coord::stock::FeedHealth {
    app.state
        .gate
        .shared_backend()
        .expect("a shared gate")
        .feed()
}

/// Far inside the 3 s of the periodic reconciliation, so only the feed (or the last look of a
/// round) can have carried a change this fast; loose enough for a loaded 2-core machine.
const PROMPTLY: Duration = Duration::from_millis(500);

/// Waits (at most `within`) until `app`'s gate shows `available` free units of `product` and
/// nothing in flight; panics with what it shows otherwise.
async fn gate_reaches(app: &TestApp, product: i64, available: i64, within: Duration, what: &str) {
    let mut level = app.state.gate.subscribe(ProductId::from_db(product));
    let seen = tokio::time::timeout(
        within,
        level.wait_for(|l| l.available == available && l.pending == 0),
    )
    .await;
    assert!(
        seen.is_ok(),
        "{what}: {} shows {:?}, not {available} free",
        app.settings.redis.instance_id.as_deref().unwrap_or("?"),
        app.state.gate.level(ProductId::from_db(product))
    );
}

/// A product of `stock` created through the second instance; every instance's gate knows it
/// before the changes begin.
async fn product_everyone_knows(apps: &[TestApp], stock: i64) -> i64 {
    let product = apps[1].create_product(json!({ "stock": stock })).await["id"]
        .as_i64()
        .unwrap();
    for app in apps {
        app.state
            .gate
            .refresh(ProductId::from_db(product))
            .await
            .unwrap();
    }
    product
}

/// Every other instance's gate shows `available` promptly.
async fn others_reach(apps: &[TestApp], through: usize, product: i64, available: i64, what: &str) {
    for (i, app) in apps.iter().enumerate() {
        if i != through {
            gate_reaches(app, product, available, PROMPTLY, what).await;
        }
    }
}

async fn every_stock_change_through_one_instance_reaches_the_others_at_once(apps: Vec<TestApp>) {
    let b = &apps[1];
    let product = product_everyone_knows(&apps, 5).await;
    let paid = b.reserve(product, 1).await;
    others_reach(&apps, 1, product, 4, "an order").await;
    let canceled = b.reserve(product, 2).await;
    let expiring = b.reserve(product, 3).await;
    others_reach(&apps, 1, product, 2, "two more orders").await;
    assert_eq!(b.pay(paid, 1, "pay-1").await.0, StatusCode::OK);
    assert_eq!(b.cancel(canceled, &b.user(2)).await.0, StatusCode::OK);
    others_reach(&apps, 1, product, 3, "a pay and a cancel").await;
    b.state.clock.advance(Duration::from_secs(24 * 3600));
    dropline::shop::holds::expire_due(&b.state.shop())
        .await
        .expect("sweep");
    assert_eq!(b.order_status(expiring).await, "EXPIRED");
    others_reach(&apps, 1, product, 4, "an expiry").await;
    let _body = b.restock_accepted(product, Some(6)).await;
    others_reach(&apps, 1, product, 10, "a restock").await;
    for app in &apps {
        assert_eq!(feed_of(app).unreadable_count(), 0);
    }
}

/// What buyers told by the round heard when they ordered through another instance.
#[derive(Default)]
struct Buyers {
    created: usize,
    started_when_sold_out: Option<i64>,
}

/// A hook under which every notified user orders through `shop` (another instance than the
/// round's) before the receiver answers; the first `sold_out` answer notes how many requests
/// the round's instance (`events` of `round_app`) had started by then.
fn orders_through(
    shop: &TestApp,
    round_app: &TestApp,
    product: i64,
    seen: Arc<Mutex<Buyers>>,
) -> Hook {
    let (base, client) = (shop.addr.clone(), shop.client.clone());
    let events = round_app.state.events.clone();
    let keys = TokenKeys::new(SECRET.as_bytes());
    Arc::new(move |arrival| {
        let (base, client, keys, seen, events) = (
            base.clone(),
            client.clone(),
            keys.clone(),
            seen.clone(),
            events.clone(),
        );
        Box::pin(async move {
            let (status, body) =
                order_as_buyer(&client, &base, &keys, product, arrival.notification.user_id).await;
            let mut seen = seen.lock().unwrap();
            if status == StatusCode::CREATED {
                seen.created += 1;
            } else if body["error"]["code"] == "sold_out" && seen.started_when_sold_out.is_none() {
                seen.started_when_sold_out = Some(started_so_far(&events, product, 1));
            }
        })
    })
}

async fn a_round_stops_with_no_start_after_a_sell_out_through_another_instance(apps: Vec<TestApp>) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(2));
    let mut apps = apps.into_iter();
    let (Some(a), Some(b)) = (apps.next(), apps.next()) else {
        panic!("two apps")
    };
    let tuning = Tuning {
        rate: 1000,
        concurrency: 8,
        ..Tuning::default()
    };
    let a = a.notifying(&receiver, tuning).await;
    let line = users(2_000);
    let product = a.product_with_line(0, &line, json!({})).await;
    let seen = Arc::new(Mutex::new(Buyers::default()));
    receiver.set_hook(orders_through(&b, &a, product, seen.clone()));
    let mut progress = a.state.events.subscribe();

    // The round runs on A; every unit sells through B.
    let round = a.restock_and_wait(product, Some(20)).await;

    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT", "{round}");
    let (created, started_when_sold_out) = {
        let seen = seen.lock().unwrap();
        (seen.created, seen.started_when_sold_out)
    };
    assert_eq!(created, 20);
    assert_eq!(b.stock(product).await, 0);
    let started = final_event(&mut progress, product, 1).started_count;
    // Either someone was told sold out (and A started nothing after that), or every one
    // A told bought a unit.
    match started_when_sold_out {
        Some(when) => assert_eq!(
            started, when,
            "A started requests after the sell-out through B"
        ),
        None => assert_eq!(started, 20),
    }
    assert!(
        receiver.count() < 200,
        "{} were told of 20 units",
        receiver.count()
    );
    assert_eq!(
        a.recipients(product, 1, 1_000).await,
        line[..receiver.count()].to_vec()
    );
}

async fn a_unit_released_through_another_instance_is_offered_by_the_claim_round_at_once(
    apps: Vec<TestApp>,
) {
    let receiver = MockReceiver::start().await.unwrap();
    let mut apps = apps.into_iter();
    let (Some(a), Some(b)) = (apps.next(), apps.next()) else {
        panic!("two apps")
    };
    let line = users(3);
    let (a, product) = a.claim_setup(&receiver, &line, json!({})).await;
    a.restock_now(product, 1).await;
    receiver.wait_for(1).await;

    // The holder leaves the line through B: the claim's unit goes back there.
    assert_eq!(b.leave(product, line[0]).await, StatusCode::NO_CONTENT);
    let offered = tokio::time::timeout(Duration::from_secs(1), receiver.wait_for(2)).await;
    assert!(
        offered.is_ok(),
        "the round on A did not offer the unit within 1 s"
    );
    assert_eq!(
        a.claim_states(product, 1).await,
        vec![
            (line[0], "RELEASED".to_owned()),
            (line[1], "OPEN".to_owned())
        ]
    );
}

async fn a_change_version_above_2_pow_53_is_published_and_mirrored_exactly(apps: Vec<TestApp>) {
    let (a, b) = (&apps[0], &apps[1]);
    let product = product_everyone_knows(&apps, 3).await;
    let redis = b.state.gate.shared_backend().unwrap().clone();
    // A version no double holds exactly.
    let big: i64 = (1 << 53) + 1;
    let key = format!("{{{}:p:{product}}}:ver", redis.namespace());
    let mut conn = b.redis_conn().await;
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(big)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut messages = subscribe(b, redis.channel()).await;

    b.reserve(product, 1).await;

    // The take and its settle: two changes, published with their exact versions.
    let mut versions = Vec::new();
    while versions.len() < 2 {
        let payload = tokio::time::timeout(Duration::from_secs(5), messages.next())
            .await
            .expect("a message")
            .expect("the subscription")
            .get_payload::<String>()
            .unwrap();
        match RedisStock::parse_message(&payload) {
            Ok(StockMessage::Level(level)) => versions.push(level.version),
            Ok(StockMessage::Beat) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(versions, vec![big + 1, big + 2]);
    gate_reaches(a, product, 2, PROMPTLY, "an order at a version above 2^53").await;
    let v: i64 = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(v, big + 2);
    assert_eq!(feed_of(a).unreadable_count(), 0);
}

/// A subscription of this test's own to `channel`.
async fn subscribe(
    app: &TestApp,
    channel: String,
) -> impl futures::Stream<Item = redis::Msg> + use<> {
    let target = dropline::coord::target::Target::from_settings(&app.settings.redis)
        .unwrap()
        .unwrap();
    let (conn, _) = target.connect().await.unwrap();
    let node = target.node_clients(&conn).await.remove(0);
    let mut pubsub = node.get_async_pubsub().await.unwrap();
    pubsub.subscribe(&channel).await.unwrap();
    pubsub.into_on_message()
}

/// Waits until `app`'s feed is in `state` (a few seconds at most); panics otherwise.
async fn feed_becomes(app: &TestApp, state: FeedState) {
    let mut watch = feed_of(app).watch();
    let reached =
        tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|s| *s == state)).await;
    assert!(reached.is_ok(), "the feed never became {state:?}");
}

/// `/readyz` once the instance's gate is trusted (it is not until its first refresh).
async fn readyz(app: &TestApp) -> serde_json::Value {
    let mut trusted = app.state.gate.watch_trusted();
    let became = tokio::time::timeout(Duration::from_secs(10), trusted.wait_for(|t| *t)).await;
    assert!(became.is_ok(), "the gate was never trusted");
    let (s, body) = app.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

async fn an_instance_whose_feed_falls_silent_says_so_and_reads_the_counters(apps: Vec<TestApp>) {
    let (a, b) = (&apps[0], &apps[1]);
    let product = product_everyone_knows(&apps, 2).await;
    let pid = ProductId::from_db(product);
    feed_becomes(a, FeedState::Live).await;
    assert_eq!(readyz(a).await["stock_feed"], "live");

    // A's subscription stops delivering, beats included.
    feed_of(a).set_deaf(true);
    feed_becomes(a, FeedState::Silent).await;
    assert_eq!(
        readyz(a).await,
        json!({"status": "ready", "stock_feed": "silent"})
    );

    // B sells out: A reads it from the counters.
    b.reserve(product, 1).await;
    b.reserve(product, 2).await;
    gate_reaches(
        a,
        product,
        0,
        Duration::from_secs(1),
        "a sell-out while A's feed is silent",
    )
    .await;
    assert!(a.state.gate.sold_out(&a.state.gate.level(pid)));

    feed_of(a).set_deaf(false);
    feed_becomes(a, FeedState::Live).await;
    assert_eq!(readyz(a).await["stock_feed"], "live");
}

async fn an_unreadable_message_is_counted_and_said(apps: Vec<TestApp>) {
    let a = &apps[0];
    for app in &apps {
        feed_becomes(app, FeedState::Live).await;
    }
    let redis = a.state.gate.shared_backend().unwrap().clone();
    let mut conn = a.redis_conn().await;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(redis.channel())
        .arg("7 5 1 1.7966306017249e+15")
        .query_async(&mut conn)
        .await
        .unwrap();
    for app in &apps {
        feed_becomes(app, FeedState::Unreadable).await;
        assert_eq!(feed_of(app).unreadable_count(), 1);
        assert_eq!(readyz(app).await["stock_feed"], "unreadable");
    }
    let metrics = a.scrape().await;
    assert!(
        metrics.contains("dropline_stock_feed_unreadable_total"),
        "the counter is not scraped"
    );
}
