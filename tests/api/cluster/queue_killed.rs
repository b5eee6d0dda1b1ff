//! The waiting room across SIGKILL, with real `dropline` processes: an instance killed in
//! the middle of a burst of joins loses no place it answered 201 for, the retries of
//! everyone through another instance give each user exactly one place, and the admissions
//! made before another kill are all there, to the millisecond, on a fresh process, where
//! the admitted order and the waiting are refused. On SQLite the process is killed and
//! started again on its file; on MariaDB + Redis the work moves to the other instances.

use dropline::auth::{Principal, TokenKeys};
use dropline::domain::ids::UserId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::helpers::{
    Instance, MysqlDatabase, RedisKind, SECRET, process_client, send, start, uuid_like,
};

/// Users who join; the instance serving them is killed once this many have their 201.
const JOINERS: i64 = 200;
const KILL_AFTER: usize = 60;
/// Units of the product: the room admits this many (per-user limit 1).
const STOCK: i64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_process_on_sqlite_loses_no_place_and_no_admission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("queue.db").display()
    );
    let env = vec![
        ("DROPLINE_DATABASE_URL", url),
        ("DROPLINE_JWT_SECRET", SECRET.to_owned()),
    ];
    kill_mid_burst(&env, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_instance_over_mysql_and_redis_loses_no_place_and_no_admission() {
    let (Some(mysql), Some((redis, ca))) = (
        crate::helpers::mysql_url(),
        crate::helpers::redis_target(RedisKind::Standalone),
    ) else {
        return;
    };
    let db = MysqlDatabase::create(&mysql).await;
    let mut env = vec![
        ("DROPLINE_DATABASE_URL", db.url()),
        ("DROPLINE_JWT_SECRET", SECRET.to_owned()),
        (
            "DROPLINE_DATABASE_MAX_CONNECTIONS",
            crate::helpers::TEST_POOL.to_string(),
        ),
        ("DROPLINE_REDIS_URL", redis),
        (
            "DROPLINE_REDIS_PREFIX",
            format!("dropline-qkill-{}", uuid_like()),
        ),
    ];
    if let Some(ca) = ca {
        env.push(("DROPLINE_REDIS_CA_FILE", ca));
    }
    kill_mid_burst(&env, 2).await;
}

/// A request that may find its process gone: None when no answer came.
async fn try_send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
) -> Option<StatusCode> {
    let resp = client
        .request(method, url)
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    let status = resp.status();
    resp.bytes().await.ok()?;
    Some(status)
}

/// Every member of the room, read from `base`.
async fn members(client: &reqwest::Client, base: &str, admin: &str, product: i64) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = format!("{base}/admin/products/{product}/queue/members?limit=100");
        if let Some(a) = &after {
            url.push_str(&format!("&after={a}"));
        }
        let (s, page) = send(client, reqwest::Method::GET, url, admin, None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        all.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return all,
        }
    }
}

fn user_of(m: &Value) -> i64 {
    m["user_id"].as_i64().expect("user_id")
}

/// Runs the scenario with `live` processes up at a time on the shared settings `env`.
async fn kill_mid_burst(env: &[(&str, String)], live: usize) {
    let client = process_client();
    let mut up: Vec<Instance> = Vec::new();
    for i in 0..live {
        up.push(start(env, &format!("q-{i}"), &client).await);
    }
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys
        .mint(Principal::Admin, Duration::from_secs(600))
        .expect("mint");
    let token = |u: i64| {
        keys.mint(
            Principal::User(UserId::from_db(u)),
            Duration::from_secs(600),
        )
        .expect("mint")
    };
    let post = reqwest::Method::POST;
    let (s, brand) = send(
        &client,
        post.clone(),
        format!("{}/brands", up[0].base),
        &admin,
        Some(json!({"name": "Helinox", "category": "camping"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{brand}");
    // The sale starts a few seconds from now: the joins below come before it, mostly.
    let starts = chrono::Utc::now() + chrono::Duration::seconds(6);
    let (s, product) = send(
        &client,
        post.clone(),
        format!("{}/products", up[0].base),
        &admin,
        Some(
            json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000,
            "stock": STOCK, "per_user_limit": 1,
            "sale_starts_at": starts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "queue": {"enabled": true, "admit_seconds": 600}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{product}");
    let id = product["id"].as_i64().expect("id");
    let queue = |base: &str| format!("{base}/products/{id}/queue");

    // A burst of joins through the first process, killed (SIGKILL) once KILL_AFTER joins
    // have answered 201.
    let created = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(tokio::sync::Notify::new());
    let first = up[0].base.clone();
    let burst: Vec<_> = (1..=JOINERS)
        .map(|u| {
            let (client, url, token) = (client.clone(), queue(&first), token(u));
            let (created, enough) = (created.clone(), enough.clone());
            tokio::spawn(async move {
                let got = try_send(&client, reqwest::Method::PUT, url, &token).await;
                if got == Some(StatusCode::CREATED)
                    && created.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER
                {
                    enough.notify_one();
                }
                (u, got)
            })
        })
        .collect();
    enough.notified().await;
    up[0].child.kill().await.expect("kill");
    let mut answered = BTreeMap::new();
    for joined in burst {
        let (u, got) = joined.await.expect("join task");
        answered.insert(u, got);
    }
    let placed: HashSet<i64> = answered
        .iter()
        .filter(|(_, got)| **got == Some(StatusCode::CREATED))
        .map(|(u, _)| *u)
        .collect();
    assert!(placed.len() >= KILL_AFTER, "{} placed", placed.len());
    eprintln!(
        "joins answered 201 before the kill: {} of {JOINERS}; unanswered: {}",
        placed.len(),
        answered.values().filter(|g| g.is_none()).count()
    );

    // Another instance (on SQLite: the same process started again) has every one of them.
    let killed = up.remove(0);
    drop(killed);
    if up.is_empty() {
        up.push(start(env, "q-again", &client).await);
    }
    let other = up[0].base.clone();
    let found: Vec<i64> = members(&client, &other, &admin, id)
        .await
        .iter()
        .map(user_of)
        .collect();
    let distinct: HashSet<i64> = found.iter().copied().collect();
    assert_eq!(distinct.len(), found.len(), "one place per user");
    assert!(placed.is_subset(&distinct), "a 201 without its place");

    // Everyone retries through it: the placed hear 200, and each user holds one place.
    for u in 1..=JOINERS {
        let got = try_send(&client, reqwest::Method::PUT, queue(&other), &token(u)).await;
        let want: &[StatusCode] = if distinct.contains(&u) {
            &[StatusCode::OK]
        } else {
            &[StatusCode::CREATED]
        };
        assert!(got.is_some_and(|s| want.contains(&s)), "user {u}: {got:?}");
    }
    let everyone = members(&client, &other, &admin, id).await;
    let mut users: Vec<i64> = everyone.iter().map(user_of).collect();
    users.sort_unstable();
    assert_eq!(users, (1..=JOINERS).collect::<Vec<_>>());

    // The sale starts and the room admits STOCK people; then the process holding the
    // work is killed too, and a fresh one finds every admission as it was.
    let admitted = async {
        loop {
            let (s, c) = send(
                &client,
                reqwest::Method::GET,
                format!("{other}/admin/products/{id}/queue"),
                &admin,
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{c}");
            if c["admitted"] == STOCK {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let counts = tokio::time::timeout(Duration::from_secs(30), admitted)
        .await
        .expect("the room admits within 30 s of the start");
    assert_eq!(counts["waiting"], JOINERS - STOCK, "{counts}");
    let admissions = |all: &[Value]| -> Vec<(i64, Value)> {
        all.iter()
            .filter(|m| m["state"] == "ADMITTED")
            .map(|m| (user_of(m), m["admitted_until"].clone()))
            .collect()
    };
    let before = admissions(&members(&client, &other, &admin, id).await);
    assert_eq!(before.len(), STOCK as usize);
    for mut i in up.drain(..) {
        i.child.kill().await.expect("kill");
    }
    let fresh = start(env, "q-fresh", &client).await;
    let after = admissions(&members(&client, &fresh.base, &admin, id).await);
    assert_eq!(after, before, "the admissions survive the kill");

    let orders = format!("{}/products/{id}/orders", fresh.base);
    let (s, b) = send(
        &client,
        post.clone(),
        orders.clone(),
        &token(before[0].0),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let waiting = everyone
        .iter()
        .map(user_of)
        .find(|u| before.iter().all(|(a, _)| a != u))
        .expect("a waiter");
    let (s, b) = send(&client, post, orders, &token(waiting), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["error"]["code"], "admission_required", "{b}");
}
