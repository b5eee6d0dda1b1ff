//! Soak under real clients' faults (see docs/benchmarks.md, "Chaos soak").
//!
//!     cargo run --release --example chaos -- [--seconds 25] [--mysql-url URL] [--redis-url URL]
//!
//! Phase 1 runs one instance on a temporary SQLite file. Phase 2 runs three instances on a fresh
//! MySQL/MariaDB database and a unique Redis prefix (from the flags, or DROPLINE_TEST_MYSQL_URL
//! and DROPLINE_TEST_REDIS_URL), and kills one of them mid-run. Clients order (some retrying
//! with one Idempotency-Key), cancel, pay, let holds expire, give up mid-request and restock.
//! Once the work settles every instance's gate is checked against the database. Any divergence
//! is listed and makes the exit status non-zero.

use anyhow::Context;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::{ProductId, UserId};
use dropline::http::mock_receiver::MockReceiver;
use dropline::startup::Application;
use dropline::state::AppState;
use rand::Rng;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "chaos-soak-secret-of-a-decent-length";
const CLIENTS: usize = 12;
const USERS: i64 = 40;
const HOLD_SECONDS: i64 = 5;
/// (initial stock, per-user limit) of each product.
const PRODUCTS: [(i64, i64); 4] = [(3, 1), (6, 3), (20, 2), (40, 5)];

struct Instance {
    base: String,
    state: AppState,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(settings: &Settings) -> anyhow::Result<Instance> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = Application::build(settings, listener).await?;
    let base = format!("http://{}", app.local_addr()?);
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(app.run(shutdown.clone()));
    Ok(Instance {
        base,
        state,
        shutdown,
        task,
    })
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    aborted: AtomicU64,
    failed: AtomicU64,
    kills: AtomicU64,
}

/// What the clients share: where to send, who owns which order, what was stocked.
struct World {
    bases: RwLock<Vec<String>>,
    products: Vec<i64>,
    stocked: Mutex<HashMap<i64, i64>>,
    orders: Mutex<Vec<(i64, i64)>>,
    tokens: Vec<String>,
    admin: String,
    client: reqwest::Client,
    counters: Counters,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let seconds: u64 = flag("--seconds").map_or(Ok(25), |s| s.parse())?;
    let mysql = flag("--mysql-url").or_else(|| std::env::var("DROPLINE_TEST_MYSQL_URL").ok());
    let redis = flag("--redis-url").or_else(|| std::env::var("DROPLINE_TEST_REDIS_URL").ok());
    let load = Duration::from_secs(seconds);
    let mut divergences = 0;

    println!("phase 1: SQLite, one instance, {seconds} s of load");
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("chaos.db").display()
    );
    divergences += phase(&url, None, 1, load).await?;

    match (mysql, redis) {
        (Some(server), Some(redis)) => {
            let name = format!("dropline_chaos_{}", rand::rng().random::<u32>());
            let server = server.trim_end_matches('/');
            let server = server
                .rsplit_once('/')
                .map_or(server, |(s, _)| s)
                .to_owned();
            let mut conn = sqlx::MySqlConnection::connect(&format!("{server}/mysql")).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            println!(
                "\nphase 2: MariaDB + Redis, three instances, database {name}, {seconds} s of load"
            );
            let result = phase(&format!("{server}/{name}"), Some(&redis), 3, load).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            divergences += result?;
        }
        _ => println!(
            "\nphase 2: SKIPPED (MariaDB + Redis): give --mysql-url and --redis-url, or set \
             DROPLINE_TEST_MYSQL_URL and DROPLINE_TEST_REDIS_URL"
        ),
    }
    println!("\ndivergences in total: {divergences}");
    if divergences > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// One phase: `count` instances on `db` (and Redis), load, kill one (cluster), settle, check.
async fn phase(
    db: &str,
    redis: Option<&str>,
    count: usize,
    load: Duration,
) -> anyhow::Result<usize> {
    let receiver = MockReceiver::start().await?;
    let prefix = format!("dropline-chaos-{}", rand::rng().random::<u32>());
    let settings_for = |n: usize| {
        let mut s = Settings::for_database(db);
        s.jwt_secret = Some(SECRET.into());
        s.notify.notify_url = Some(receiver.url());
        if let Some(redis) = redis {
            s.redis.url = Some(redis.to_owned());
            s.redis.prefix = prefix.clone();
            s.redis.instance_id = Some(format!("chaos-{n}"));
        }
        s
    };
    let mut instances = Vec::new();
    for n in 0..count {
        instances.push(start(&settings_for(n)).await?);
    }
    let keys = TokenKeys::new(SECRET.as_bytes());
    let hour = Duration::from_secs(3600);
    let mut world = World {
        bases: RwLock::new(instances.iter().map(|i| i.base.clone()).collect()),
        products: Vec::new(),
        stocked: Mutex::default(),
        orders: Mutex::default(),
        tokens: (1..=USERS)
            .map(|u| keys.mint(Principal::User(UserId::from_db(u)), hour))
            .collect::<Result<_, _>>()?,
        admin: keys.mint(Principal::Admin, hour)?,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        counters: Counters::default(),
    };
    world.products = setup(&world, &instances[0].base).await?;
    let world = Arc::new(world);

    let started = Instant::now();
    let deadline = started + load;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(world.clone(), deadline)))
        .collect();
    if count > 1 {
        tokio::time::sleep(load / 2).await;
        // Abruptly: the server task is aborted mid-request and its workers told to stop.
        let victim = instances.remove(count - 1);
        victim.task.abort();
        victim.shutdown.cancel();
        world.counters.kills.fetch_add(1, Relaxed);
        let fresh = start(&settings_for(count)).await?;
        world.bases.write().unwrap()[count - 1] = fresh.base.clone();
        instances.push(fresh);
        println!(
            "  killed instance chaos-{}, started chaos-{count} at {:.1} s",
            count - 1,
            started.elapsed().as_secs_f64()
        );
    }
    for c in clients {
        c.await?;
    }
    let found = settle_and_check(db, &world, &instances).await?;
    let c = &world.counters;
    let (orders, rounds) = (
        statuses(db, "orders").await?,
        statuses(db, "product_notification_history").await?,
    );
    println!("  requests made: {}", c.requests.load(Relaxed));
    println!(
        "  requests aborted by the client: {}",
        c.aborted.load(Relaxed)
    );
    println!(
        "  requests without an answer (connection lost): {}",
        c.failed.load(Relaxed)
    );
    println!("  kills/restarts: {}", c.kills.load(Relaxed));
    println!("  orders by status: {orders:?}");
    println!(
        "  expiries: {}",
        orders.get("EXPIRED").copied().unwrap_or(0)
    );
    println!(
        "  rounds: {} {rounds:?}; notifications received: {}",
        rounds.values().sum::<i64>(),
        receiver.arrivals().len()
    );
    println!("  stocked per product: {:?}", world.stocked.lock().unwrap());
    println!("  divergences: {}", found.len());
    for d in &found {
        println!("    DIVERGENCE: {d}");
    }
    for i in instances {
        i.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), i.task).await;
    }
    Ok(found.len())
}

async fn setup(world: &World, base: &str) -> anyhow::Result<Vec<i64>> {
    let brand = admin_call(
        world,
        &format!("{base}/brands"),
        json!({"name": "Helinox", "category": "camping"}),
    )
    .await?;
    let mut ids = Vec::new();
    for (i, (stock, limit)) in PRODUCTS.iter().enumerate() {
        let p = admin_call(
            world,
            &format!("{base}/products"),
            json!({"name": format!("Chair {i}"), "brand_ids": [brand["id"]], "price": 1000,
                   "stock": stock, "per_user_limit": limit, "hold_seconds": HOLD_SECONDS}),
        )
        .await?;
        let id = p["id"].as_i64().context("product id")?;
        let line: Vec<i64> = (1..=USERS).collect();
        admin_call(
            world,
            &format!("{base}/admin/products/{id}/subscriptions/import"),
            json!({"user_ids": line}),
        )
        .await?;
        world.stocked.lock().unwrap().insert(id, *stock);
        ids.push(id);
    }
    Ok(ids)
}

async fn admin_call(world: &World, url: &str, body: Value) -> anyhow::Result<Value> {
    let resp = world
        .client
        .post(url)
        .bearer_auth(&world.admin)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url}: {status}: {value}");
    Ok(value)
}

/// One simulated client: a random mix until `deadline`, at most 20,000 actions.
async fn client(world: Arc<World>, deadline: Instant) {
    for _ in 0..20_000 {
        if Instant::now() >= deadline {
            return;
        }
        let (roll, user, product, base, quantity, wait) = {
            let mut rng = rand::rng();
            let bases = world.bases.read().unwrap();
            (
                rng.random_range(0..100),
                rng.random_range(1..=USERS),
                world.products[rng.random_range(0..world.products.len())],
                bases[rng.random_range(0..bases.len())].clone(),
                rng.random_range(1..=2),
                rng.random_range(0..=8u64),
            )
        };
        let token = &world.tokens[(user - 1) as usize];
        let known = {
            let orders = world.orders.lock().unwrap();
            (!orders.is_empty()).then(|| orders[rand::rng().random_range(0..orders.len())])
        };
        match roll {
            0..=29 => {
                let body = json!({"quantity": quantity});
                let url = format!("{base}/products/{product}/orders");
                if roll < 8 {
                    // A retry with one key: the same order comes back.
                    let key = format!("k-{}", rand::rng().random::<u64>());
                    let tries = (0..3).map(|_| send(&world, &url, token, Some(&key), Some(&body)));
                    for v in futures::future::join_all(tries).await.into_iter().flatten() {
                        remember(&world, user, &v);
                    }
                } else if let Some(v) = send(&world, &url, token, None, Some(&body)).await {
                    remember(&world, user, &v);
                }
            }
            30..=41 => {
                if let Some((owner, order)) = known {
                    let t = &world.tokens[(owner - 1) as usize];
                    send(
                        &world,
                        &format!("{base}/orders/{order}/cancel"),
                        t,
                        None,
                        None,
                    )
                    .await;
                }
            }
            42..=55 => {
                if let Some((owner, order)) = known {
                    let t = &world.tokens[(owner - 1) as usize];
                    let body = json!({"payment_ref": format!("pay-{order}")});
                    send(
                        &world,
                        &format!("{base}/orders/{order}/pay"),
                        t,
                        None,
                        Some(&body),
                    )
                    .await;
                }
            }
            56..=79 => {
                let (method_path, body) = match (roll % 3, known) {
                    (1, Some((_, order))) => (format!("/orders/{order}/cancel"), String::new()),
                    (2, Some((_, order))) => (
                        format!("/orders/{order}/pay"),
                        json!({"payment_ref": format!("pay-{order}")}).to_string(),
                    ),
                    _ => (
                        format!("/products/{product}/orders"),
                        json!({"quantity": quantity}).to_string(),
                    ),
                };
                let owner_token = match known {
                    Some((owner, _)) if roll % 3 != 0 => &world.tokens[(owner - 1) as usize],
                    _ => token,
                };
                abandon(&world, &base, &method_path, owner_token, &body, wait).await;
            }
            80..=84 if rand::rng().random_range(0..10) == 0 => {
                // Restocks go to the first instance, which is never killed, so every 2xx counts.
                let first = world.bases.read().unwrap()[0].clone();
                let url = format!("{first}/products/{product}/notifications/re-stock");
                world.counters.requests.fetch_add(1, Relaxed);
                if admin_call(&world, &url, json!({"quantity": quantity}))
                    .await
                    .is_ok()
                {
                    *world.stocked.lock().unwrap().entry(product).or_default() += quantity;
                }
            }
            _ => {
                world.counters.requests.fetch_add(1, Relaxed);
                let _ = world
                    .client
                    .get(format!("{base}/products/{product}"))
                    .send()
                    .await;
            }
        }
    }
}

fn remember(world: &World, user: i64, order: &Value) {
    if let Some(id) = order["id"].as_i64() {
        let mut orders = world.orders.lock().unwrap();
        if !orders.contains(&(user, id)) && orders.len() < 5_000 {
            orders.push((user, id));
        }
    }
}

/// Sends a POST and answers the body of a 2xx answer.
async fn send(
    world: &World,
    url: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Option<Value> {
    world.counters.requests.fetch_add(1, Relaxed);
    let mut req = world.client.post(url).bearer_auth(token);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => resp.json().await.ok(),
        Ok(_) => None,
        Err(_) => {
            world.counters.failed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Writes one whole request on a raw socket and closes it after `wait_ms`, unread.
async fn abandon(world: &World, base: &str, path: &str, token: &str, body: &str, wait_ms: u64) {
    world.counters.requests.fetch_add(1, Relaxed);
    world.counters.aborted.fetch_add(1, Relaxed);
    let addr = base.trim_start_matches("http://");
    let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(request.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    drop(socket);
}

/// Waits (at most 40 s) until every check passes on every instance; answers the last failures.
async fn settle_and_check(
    db: &str,
    world: &World,
    instances: &[Instance],
) -> anyhow::Result<Vec<String>> {
    // Every hold placed under load has passed, and the sweeper (every second) has run since.
    tokio::time::sleep(Duration::from_secs(HOLD_SECONDS as u64 + 2)).await;
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let found = check(db, world, instances).await?;
        if found.is_empty() || Instant::now() >= until {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn check(db: &str, world: &World, instances: &[Instance]) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    let stocked = world.stocked.lock().unwrap().clone();
    for (n, inst) in instances.iter().enumerate() {
        for &product in &world.products {
            let pid = ProductId::from_db(product);
            if let Some(redis) = inst.state.gate.shared_backend() {
                redis.refresh(&inst.state.gate, pid).await?;
            }
            let free = inst
                .state
                .store
                .stock_of(pid)
                .await?
                .context("product")?
                .stock;
            let held = inst.state.store.units_held(pid).await?;
            let level = inst.state.gate.level(pid);
            let total = stocked[&product];
            let at = format!("instance {n}, product {product}");
            if level.available != free {
                found.push(format!(
                    "{at}: gate available {} != database free {free}",
                    level.available
                ));
            }
            if level.pending != 0 {
                found.push(format!(
                    "{at}: {} units still pending at the gate",
                    level.pending
                ));
            }
            if free + held != total {
                found.push(format!(
                    "{at}: free {free} + held {held} != stocked {total}"
                ));
            }
            if held > total || free < 0 {
                found.push(format!("{at}: sold {held} of {total} stocked, free {free}"));
            }
        }
    }
    for (status, n) in statuses(db, "orders").await? {
        if !["RESERVED", "PAID", "CANCELED", "EXPIRED"].contains(&status.as_str()) {
            found.push(format!("{n} orders in status {status}"));
        }
    }
    for (status, n) in statuses(db, "product_notification_history").await? {
        if status == "IN_PROGRESS" {
            found.push(format!(
                "{n} rounds still IN_PROGRESS after the load settled"
            ));
        } else if !["COMPLETED", "CANCELED_BY_SOLD_OUT", "CANCELED_BY_ERROR"]
            .contains(&status.as_str())
        {
            found.push(format!("{n} rounds in status {status}"));
        }
    }
    Ok(found)
}

/// Rows of `table` by status, read straight from the database.
async fn statuses(
    db: &str,
    table: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let sql = format!("SELECT CAST(status AS CHAR), COUNT(*) FROM {table} GROUP BY status");
    let rows: Vec<(String, i64)> = if db.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(db).await?;
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?
    } else {
        let mut conn = sqlx::SqliteConnection::connect(db).await?;
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?
    };
    Ok(rows.into_iter().collect())
}
