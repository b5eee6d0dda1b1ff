//! Three real `dropline` processes on loopback ports, one MariaDB database, one Redis: orders
//! spread over them sell exactly the stock, and a round survives its instance being killed.
//! Runs on standalone Redis, a Redis Cluster and TLS, each when MariaDB and its URL are set.

use dropline::auth::{Principal, TokenKeys};
use dropline::tools::mock_receiver::MockReceiver;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::notifying_env;
use crate::helpers::process_client;
use crate::helpers::restock_at;
use crate::helpers::{MysqlDatabase, RedisKind, SECRET, send, signal_at, start, users, uuid_like};
use crate::helpers::{recipients_of, wait_for_end};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_share_stock_and_finish_a_round_whose_instance_was_killed() {
    three_processes_on(RedisKind::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_a_redis_cluster_three_processes_share_stock_and_finish_a_killed_round() {
    three_processes_on(RedisKind::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_tls_three_processes_share_stock_and_finish_a_killed_round() {
    three_processes_on(RedisKind::Tls).await;
}

async fn three_processes_on(kind: RedisKind) {
    let (Ok(mysql), Ok((redis, ca))) = (
        crate::helpers::mysql_url().ok_or(()),
        crate::helpers::redis_target(kind).ok_or(()),
    ) else {
        return;
    };
    let db = MysqlDatabase::create(&mysql).await;
    let receiver = MockReceiver::start().await.expect("receiver");
    receiver.set_latency(Duration::from_millis(20));
    let mut env = notifying_env(db.url(), receiver.url());
    env.extend([
        (
            "DROPLINE_DATABASE_MAX_CONNECTIONS",
            crate::helpers::TEST_POOL.to_string(),
        ),
        ("DROPLINE_REDIS_URL", redis),
        (
            "DROPLINE_REDIS_PREFIX",
            format!("dropline-proc-{}", uuid_like()),
        ),
        ("DROPLINE_NOTIFY_LEASE_SECONDS", "2".to_owned()),
    ]);
    if let Some(ca) = ca {
        env.push(("DROPLINE_REDIS_CA_FILE", ca));
    }
    let client = process_client();
    let mut instances = Vec::new();
    for i in 0..3 {
        instances.push(start(&env, &format!("proc-{i}"), &client).await);
    }
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys
        .mint(Principal::Admin, Duration::from_secs(600))
        .expect("mint");
    let post = reqwest::Method::POST;
    let (s, brand) = send(
        &client,
        post.clone(),
        format!("{}/brands", instances[0].base),
        &admin,
        Some(json!({"name": "Helinox", "category": "camping"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{brand}");
    let new_product = |stock: i64| json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000, "stock": stock});

    // Orders from 2,000 buyers spread over the three processes, for 50 units.
    let drop_id = product_at(&client, &instances[1].base, &admin, new_product(50)).await;
    let answers = join_all((1..=2_000_i64).map(|u| {
        let base = instances[(u % 3) as usize].base.clone();
        let token = keys
            .mint(
                Principal::User(dropline::domain::ids::UserId::from_db(u)),
                Duration::from_secs(600),
            )
            .expect("mint");
        let client = client.clone();
        async move {
            send(
                &client,
                reqwest::Method::POST,
                format!("{base}/products/{drop_id}/orders"),
                &token,
                None,
            )
            .await
        }
    }))
    .await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 50);
    assert!(
        answers
            .iter()
            .all(|(s, b)| *s == StatusCode::CREATED || b["error"]["code"] == "sold_out")
    );

    // A round on instance 0, killed (SIGKILL) after 100 notifications.
    let pid = product_at(&client, &instances[0].base, &admin, new_product(1_000)).await;
    let line = users(600);
    let (s, b) = send(
        &client,
        post.clone(),
        format!(
            "{}/admin/products/{pid}/subscriptions/import",
            instances[0].base
        ),
        &admin,
        Some(json!({"user_ids": line})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let hundredth = signal_at(&receiver, 100);
    let number = restock_at(&client, &instances[0].base, &admin, pid).await;
    hundredth.notified().await;
    instances[0].child.kill().await.expect("kill");

    // Another process takes the round over once the lease lapses (2 s) and finishes it.
    let survivor = instances[1].base.clone();
    let ended = wait_for_end(&client, &survivor, &admin, pid, number).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["notified_count"], 600, "{ended}");
    let recipients = recipients_of(&client, &survivor, &admin, pid, number).await;
    assert_eq!(recipients, line, "every user once, in line order");
    let arrivals = receiver.arrivals();
    let distinct: HashSet<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(distinct.len(), line.len());
    let duplicates = arrivals.len() - distinct.len();
    // Sent again: only requests started but not yet recorded, which the in-flight bound
    // (16 here) caps, since a request's permit comes back only once its outcome is written.
    eprintln!("requests sent again after the kill: {duplicates} (in-flight window 16)");
    assert!(duplicates <= 16, "{duplicates} duplicates at the receiver");
    for mut i in instances {
        let _ = i.child.kill().await;
    }
}

/// Creates the product `body` describes through the process at `base`; answers its id.
async fn product_at(client: &reqwest::Client, base: &str, admin: &str, body: Value) -> i64 {
    let path = format!("{base}/products");
    let (_, product) = send(client, reqwest::Method::POST, path, admin, Some(body)).await;
    product["id"].as_i64().expect("product id")
}
