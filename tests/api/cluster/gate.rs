//! The shared stock gate across instances.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use crate::helpers::{TestApp, reconcile_once};

crate::on_every_cluster!(
    orders_spread_over_three_instances_sell_exactly_the_stock,
    redis_losing_its_data_mid_burst_never_oversells,
    units_stranded_by_a_dead_instance_come_back_by_reconciliation,
    a_sell_out_on_one_instance_reaches_every_instance,
    returned_units_are_shared_by_every_instance,
);

async fn product_with_stock(app: &TestApp, stock: i64) -> i64 {
    app.create_product(json!({ "stock": stock })).await["id"]
        .as_i64()
        .unwrap()
}

async fn stock_of(app: &TestApp, product: i64) -> i64 {
    app.get(&format!("/products/{product}"), None).await.1["stock"]
        .as_i64()
        .unwrap()
}

/// Fires one order per buyer, spread round-robin over the instances; counts 201s and checks
/// every other answer is 409 sold_out.
async fn burst(apps: &[TestApp], product: i64, buyers: std::ops::Range<i64>) -> usize {
    let answers = join_all(buyers.map(|u| {
        let app = &apps[(u as usize) % apps.len()];
        async move { app.order(product, u).await }
    }))
    .await;
    let mut created = 0;
    for (status, body) in answers {
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => assert_eq!(body["error"]["code"], "sold_out", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    created
}

async fn orders_spread_over_three_instances_sell_exactly_the_stock(apps: Vec<TestApp>) {
    let product = product_with_stock(&apps[0], 50).await;
    assert_eq!(burst(&apps, product, 1..2_001).await, 50);
    for app in &apps {
        assert_eq!(stock_of(app, product).await, 0);
    }
}

async fn redis_losing_its_data_mid_burst_never_oversells(apps: Vec<TestApp>) {
    let product = product_with_stock(&apps[0], 60).await;
    let first = burst(&apps, product, 1..31).await;
    assert_eq!(first, 30);
    // Redis forgets every counter (a restart without persistence) while buyers keep coming.
    let wipe = async { assert!(apps[0].wipe_redis().await > 0) };
    let (_, second) = tokio::join!(wipe, burst(&apps, product, 31..1_031));
    assert_eq!(second, 30, "the database sold exactly what was left");
    assert_eq!(stock_of(&apps[1], product).await, 0);
}

async fn units_stranded_by_a_dead_instance_come_back_by_reconciliation(mut apps: Vec<TestApp>) {
    let product = product_with_stock(&apps[0], 5).await;
    let dead = &mut apps[2];
    let redis = dead.state.gate.shared_backend().unwrap().clone();
    // The instance takes two units for an order and dies before writing it.
    let pid = dropline::domain::ids::ProductId::from_db(product);
    let hold = dead.state.gate.take(pid, 2, "stranded").await.unwrap();
    std::mem::forget(hold);
    dead.stop().await;
    redis.forget_instance(redis.instance()).await.unwrap();
    let alive = &apps[0];
    alive.state.gate.refresh(pid).await.unwrap();
    // The two stranded units are out of the gate, unless the live instances' own
    // reconciliation already brought them back.
    let before = alive.state.gate.level(pid).available;
    assert!(before == 3 || before == 5, "{before} units free");

    // Either way, one reconciliation brings the units back.
    reconcile_once(&alive.state).await;
    alive.state.gate.refresh(pid).await.unwrap();
    assert_eq!(alive.state.gate.level(pid).available, 5);
    assert_eq!(burst(&apps[..2], product, 1..20).await, 5);
}

async fn a_sell_out_on_one_instance_reaches_every_instance(apps: Vec<TestApp>) {
    let product = product_with_stock(&apps[0], 1).await;
    let pid = dropline::domain::ids::ProductId::from_db(product);
    let mut watch = apps[2].state.gate.subscribe(pid);
    let (status, _) = apps[0].order(product, 1).await;
    assert_eq!(status, StatusCode::CREATED);
    let seen =
        tokio::time::timeout(Duration::from_secs(10), watch.wait_for(|l| l.is_sold_out())).await;
    assert!(seen.is_ok(), "instance 2 never saw the sell-out");
}

async fn returned_units_are_shared_by_every_instance(apps: Vec<TestApp>) {
    let product = product_with_stock(&apps[0], 1).await;
    let order = apps[0].reserve(product, 1).await;
    assert_eq!(
        apps[1].order(product, 2).await.1["error"]["code"],
        "sold_out"
    );
    let (s, _) = apps[2].cancel(order, &apps[2].user(1)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(apps[1].order(product, 2).await.0, StatusCode::CREATED);
}
