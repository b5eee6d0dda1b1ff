//! Redis state that does not belong to the database at hand: another deployment's keys under
//! the same prefix, counters from after the point a database was restored to, and in-flight
//! units of instances that are gone. None of it may answer a buyer.

use crate::helpers::{Db, TestApp, Tuning, assert_accounted, reconcile_once, users, uuid_like};
use dropline::domain::ids::ProductId;
use dropline::tools::mock_receiver::MockReceiver;
use futures::future::join_all;
use serde_json::json;

crate::on_every_cluster!(
    a_database_restored_under_a_live_redis_sells_what_it_holds,
    in_flight_units_of_dead_instances_go_even_while_live_ones_hold_units,
);

mod stale_keys {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::a_redis_with_another_deployments_keys_serves_the_new_database(super::Db::Sqlite)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn mysql() {
        super::a_redis_with_another_deployments_keys_serves_the_new_database(super::Db::Mysql)
            .await;
    }
}

async fn redis_conn() -> Option<redis::aio::MultiplexedConnection> {
    let url = crate::helpers::redis_url()?;
    let client = redis::Client::open(url).ok()?;
    client.get_multiplexed_async_connection().await.ok()
}

async fn cmd(conn: &mut impl redis::aio::ConnectionLike, args: &[&str]) {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    let _: redis::Value = c.query_async(conn).await.expect("redis command");
}

/// Sells `n` of `product` over the instances in turn; answers how many were created.
async fn sell(apps: &[TestApp], product: i64, buyers: std::ops::Range<i64>) -> usize {
    join_all(buyers.map(|u| {
        let app = &apps[u as usize % apps.len()];
        async move { app.order(product, u).await.0 }
    }))
    .await
    .into_iter()
    .filter(|s| *s == 201)
    .count()
}

async fn a_redis_with_another_deployments_keys_serves_the_new_database(db: Db) {
    let Some(mut conn) = redis_conn().await else {
        return;
    };
    let prefix = format!("dropline-test-{}", uuid_like());
    // An earlier deployment under the same prefix: sold-out counters, versions, in-flight units
    // and heartbeats, in the old layout and under another deployment id.
    for p in ["1", "2", "3"] {
        cmd(&mut conn, &["SET", &format!("{prefix}:stock:{p}"), "0"]).await;
        cmd(
            &mut conn,
            &["SET", &format!("{prefix}:ver:{p}"), "99999999999999999"],
        )
        .await;
        cmd(
            &mut conn,
            &["HSET", &format!("{prefix}:inflight:{p}"), "inst1", "15"],
        )
        .await;
        let tag = format!("{{{prefix}:0123456789abcdef:p:{p}}}");
        cmd(&mut conn, &["SET", &format!("{tag}:stock"), "0"]).await;
        cmd(
            &mut conn,
            &["SET", &format!("{tag}:ver"), "99999999999999999"],
        )
        .await;
        cmd(
            &mut conn,
            &["HSET", &format!("{tag}:dbv"), "base", "900", "seen", "1000"],
        )
        .await;
        cmd(
            &mut conn,
            &["HSET", &format!("{tag}:inflight"), "inst1|r", "15"],
        )
        .await;
    }
    cmd(
        &mut conn,
        &["SET", &format!("{prefix}:instance:inst1"), "1"],
    )
    .await;

    let Some(apps) = TestApp::spawn_cluster_under(db, 2, &prefix).await else {
        return;
    };
    let receiver = MockReceiver::start().await.unwrap();
    let mut wired = Vec::new();
    for app in apps {
        wired.push(app.notifying(&receiver, Tuning::default()).await);
    }
    let apps = wired;
    let line = users(20);
    let a = apps[0].product_with_line(0, &line, json!({})).await;
    let b = apps[0].product_with_line(0, &line, json!({})).await;
    let c = apps[1].product(json!({ "stock": 50 })).await;

    // The first sale of a fresh product succeeds, and sells exactly its stock.
    assert_eq!(apps[1].order(c, 1).await.0, 201);
    assert_eq!(sell(&apps, c, 2..200).await, 49);
    assert_accounted(&apps[0], c, 50).await;
    // The first restock rounds notify their lines.
    for product in [a, b] {
        let round = apps[1].restock_and_wait(product, Some(100)).await;
        assert_eq!(round["status"], "COMPLETED", "{round}");
        assert_eq!(round["notified_count"], 20);
        assert_eq!(sell(&apps, product, 1_000..1_150).await, 100);
    }
}

async fn a_database_restored_under_a_live_redis_sells_what_it_holds(apps: Vec<TestApp>) {
    let product = apps[0].product(json!({ "stock": 10 })).await;
    assert_eq!(sell(&apps, product, 1..5).await, 4);
    // The database goes back to a backup taken before those sales; Redis keeps its counters.
    apps[0]
        .raw_sql(&format!(
            "DELETE FROM orders WHERE product_id = {product}; \
             UPDATE product SET stock = 10, stock_version = 0 WHERE id = {product}"
        ))
        .await;
    // The running instances' reconciliation finds the counter ahead of the database.
    reconcile_once(&apps[1].state).await;
    for app in &apps {
        assert_accounted(app, product, 10).await;
    }
    assert_eq!(sell(&apps, product, 100..130).await, 10);

    // Once more, and this time the instances restart on the restored database.
    apps[0]
        .raw_sql(&format!(
            "DELETE FROM orders WHERE product_id = {product}; \
             UPDATE product SET stock = 10, stock_version = 0 WHERE id = {product}"
        ))
        .await;
    let mut restarted = Vec::new();
    for app in apps {
        restarted.push(app.restart().await);
    }
    let apps = restarted;
    for app in &apps {
        assert_accounted(app, product, 10).await;
    }
    assert_eq!(sell(&apps, product, 200..230).await, 10);
}

async fn in_flight_units_of_dead_instances_go_even_while_live_ones_hold_units(apps: Vec<TestApp>) {
    let product = apps[0].product(json!({ "stock": 10 })).await;
    let pid = ProductId::from_db(product);
    let gate = &apps[0].state.gate;
    let redis = gate.shared_backend().unwrap().clone();
    let mut conn = apps[0].redis_conn().await;
    let tag = format!("{{{}:p:{product}}}", redis.namespace());
    // A live instance holds 2 units for an order being written; a dead one stranded 3.
    let hold = match gate.take(pid, 2, "live-order").await.unwrap() {
        dropline::gate::take::Take::Taken(h) => h,
        other => panic!("{other:?}"),
    };
    cmd(
        &mut conn,
        &["HSET", &format!("{tag}:inflight"), "ghost|r1", "3"],
    )
    .await;
    cmd(&mut conn, &["DECRBY", &format!("{tag}:stock"), "3"]).await;

    reconcile_once(&apps[1].state).await;
    let left: Vec<String> = redis::cmd("HKEYS")
        .arg(format!("{tag}:inflight"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left.len(),
        1,
        "only the live order's units stay in flight: {left:?}"
    );
    assert!(left[0].ends_with("|live-order"), "{left:?}");

    hold.give_back().await;
    reconcile_once(&apps[1].state).await;
    for app in &apps {
        assert_accounted(app, product, 10).await;
    }
    assert_eq!(sell(&apps, product, 1..30).await, 10);
}
