//! Retries with one Idempotency-Key arriving together are handled one after another: one
//! creates the order, every other answers with it.

use futures::future::join_all;
use serde_json::{Value, json};
use std::collections::HashSet;

use crate::helpers::TestApp;

crate::on_every_backend!(parallel_retries_with_one_key_all_answer_with_the_one_order);
/// The same cases on several instances sharing one database and Redis.
mod instances {
    use super::*;
    crate::on_every_cluster!(parallel_retries_with_one_key_across_instances_answer_with_one_order);
}

fn check(answers: Vec<(reqwest::StatusCode, Value)>) {
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let replayed = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(created, 1, "{answers:?}");
    assert_eq!(replayed, answers.len() - 1, "{answers:?}");
    let ids: HashSet<i64> = answers
        .iter()
        .map(|(_, b)| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every answer is the same order");
}

async fn parallel_retries_with_one_key_all_answer_with_the_one_order(app: TestApp) {
    let product = app
        .product(json!({ "stock": 1, "per_user_limit": 5 }))
        .await;
    let answers = join_all((0..30).map(|_| app.order_with(product, 42, None, Some("k-1")))).await;
    check(answers);
    assert_eq!(app.stock(product).await, 0);
    assert!(app.state.key_locks.is_empty(), "key slots are released");
}

async fn parallel_retries_with_one_key_across_instances_answer_with_one_order(apps: Vec<TestApp>) {
    let product = apps[0]
        .product(json!({ "stock": 1, "per_user_limit": 5 }))
        .await;
    let answers =
        join_all((0..30).map(|i| apps[i % apps.len()].order_with(product, 42, None, Some("k-1"))))
            .await;
    check(answers);
    assert_eq!(apps[0].stock(product).await, 0);
}
