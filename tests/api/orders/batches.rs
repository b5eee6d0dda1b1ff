//! Orders decided together: bursts that mix every reason to refuse, on one instance and on
//! several instances sharing one database, each order decided exactly as if it came alone.

use chrono::Duration as Span;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

use crate::helpers::{TestApp, tally};

crate::on_every_backend!(
    a_burst_mixing_sold_out_limits_closed_sales_and_retries_decides_each_order_exactly
);

/// The same cases on several instances sharing one database and Redis.
mod instances {
    use super::*;
    crate::on_every_cluster!(
        instances_racing_on_one_product_hold_each_buyer_to_the_limit,
        one_key_sent_for_two_products_on_two_instances_makes_exactly_one_order,
    );
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

/// Which burst an order belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Short,
    Limited,
    Early,
    Late,
    Keyed,
}

async fn a_burst_mixing_sold_out_limits_closed_sales_and_retries_decides_each_order_exactly(
    app: TestApp,
) {
    let now = app.state.clock.now();
    // The database holds 3 units of `short` while the stock gate still counts 9: as after a
    // restore, the database decides.
    let short = app.product(json!({"stock": 10})).await;
    app.reserve(short, 1).await;
    app.raw_sql(&format!("UPDATE product SET stock = 3 WHERE id = {short}"))
        .await;
    let limited = app
        .product(json!({"stock": 100, "per_user_limit": 2}))
        .await;
    let early = app
        .product(json!({"stock": 10, "sale_starts_at": (now + Span::hours(1)).to_rfc3339()}))
        .await;
    let late = app
        .product(json!({
            "stock": 10,
            "sale_starts_at": (now - Span::hours(2)).to_rfc3339(),
            "sale_ends_at": (now - Span::hours(1)).to_rfc3339(),
        }))
        .await;
    let keyed = app
        .product(json!({"stock": 100, "per_user_limit": 5}))
        .await;
    let body = json!({"quantity": 2});

    let mut burst = Vec::new();
    for u in 0..12 {
        burst.push((Kind::Short, app.order_with(short, 100 + u, None, None)));
    }
    for _ in 0..5 {
        for u in 200..206 {
            burst.push((Kind::Limited, app.order_with(limited, u, None, None)));
        }
    }
    for u in 300..306 {
        burst.push((Kind::Early, app.order_with(early, u, None, None)));
        burst.push((Kind::Late, app.order_with(late, u, None, None)));
    }
    for _ in 0..10 {
        let retry = app.order_with(keyed, 400, Some(body.clone()), Some("same-order"));
        burst.push((Kind::Keyed, retry));
    }
    let (kinds, calls): (Vec<Kind>, Vec<_>) = burst.into_iter().unzip();
    let answers = join_all(calls).await;

    let mut by_kind: BTreeMap<Kind, Vec<(StatusCode, Value)>> = BTreeMap::new();
    for (kind, answer) in kinds.into_iter().zip(answers) {
        by_kind.entry(kind).or_default().push(answer);
    }
    assert_eq!(
        tally(&by_kind[&Kind::Short]),
        counts(&[("201", 3), ("409 sold_out", 9)])
    );
    assert_eq!(
        tally(&by_kind[&Kind::Limited]),
        counts(&[("201", 12), ("409 purchase_limit_exceeded", 18)])
    );
    let mut per_buyer: BTreeMap<i64, usize> = BTreeMap::new();
    for (s, b) in &by_kind[&Kind::Limited] {
        if *s == StatusCode::CREATED {
            *per_buyer.entry(b["user_id"].as_i64().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(per_buyer, (200..206).map(|u| (u, 2)).collect());
    assert_eq!(
        tally(&by_kind[&Kind::Early]),
        counts(&[("409 sale_not_started", 6)])
    );
    assert_eq!(
        tally(&by_kind[&Kind::Late]),
        counts(&[("409 sale_ended", 6)])
    );
    let retries = &by_kind[&Kind::Keyed];
    assert_eq!(tally(retries), counts(&[("200", 9), ("201", 1)]));
    let ids: HashSet<i64> = retries
        .iter()
        .map(|(_, b)| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every retry answers with the one order");
    assert_eq!(retries[0].1["quantity"], 2);

    assert_eq!(app.stock(short).await, 0);
    assert_eq!(app.stock(limited).await, 88);
    assert_eq!(app.stock(early).await, 10);
    assert_eq!(app.stock(late).await, 10);
    assert_eq!(app.stock(keyed).await, 98);
}

async fn instances_racing_on_one_product_hold_each_buyer_to_the_limit(apps: Vec<TestApp>) {
    let product = apps[0]
        .product(json!({"stock": 1000, "per_user_limit": 2}))
        .await;

    // Every buyer sends three orders to every instance at once.
    let answers = join_all((1..=20).flat_map(|u| {
        apps.iter()
            .flat_map(move |app| (0..3).map(move |_| app.order(product, u)))
    }))
    .await;

    let orders = 20 * 3 * apps.len();
    assert_eq!(
        tally(&answers),
        counts(&[("201", 40), ("409 purchase_limit_exceeded", orders - 40)])
    );
    let mut per_buyer: BTreeMap<i64, usize> = BTreeMap::new();
    for (s, b) in &answers {
        if *s == StatusCode::CREATED {
            *per_buyer.entry(b["user_id"].as_i64().unwrap()).or_default() += 1;
        }
    }
    assert_eq!(per_buyer, (1..=20).map(|u| (u, 2)).collect());
    for app in &apps {
        assert_eq!(app.stock(product).await, 960);
    }
}

async fn one_key_sent_for_two_products_on_two_instances_makes_exactly_one_order(
    apps: Vec<TestApp>,
) {
    let first = apps[0].product(json!({"stock": 100})).await;
    let second = apps[0].product(json!({"stock": 100})).await;

    // Each buyer sends one key for one product to one instance and for the other product to
    // another instance, at the same time; buyers alternate the order of the two.
    let answers = join_all((1..=30).flat_map(|u| {
        let (a, b) = if u % 2 == 0 {
            (first, second)
        } else {
            (second, first)
        };
        [
            apps[0].order_with(a, u, None, Some("one-key")),
            apps[1].order_with(b, u, None, Some("one-key")),
        ]
    }))
    .await;

    for (u, pair) in (1..=30).zip(answers.chunks(2)) {
        assert_eq!(
            tally(pair),
            counts(&[("201", 1), ("409 idempotency_key_reused", 1)]),
            "buyer {u}: {pair:?}"
        );
    }
    let sold = (100 - apps[2].stock(first).await) + (100 - apps[2].stock(second).await);
    assert_eq!(sold, 30);
    for u in 1..=30 {
        let (s, mine) = apps[2].get("/me/orders", Some(&apps[2].user(u))).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(mine["items"].as_array().unwrap().len(), 1, "buyer {u}");
    }
}
