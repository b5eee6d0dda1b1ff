//! Soak under real clients' faults (see docs/benchmarks.md, "Chaos soak").
//!
//!     cargo run --release --example chaos -- [--seconds 25] [--mysql-url URL] [--redis-url URL]
//!
//! Phase 1 runs one instance on a temporary SQLite file. Phase 2 runs three instances on a fresh
//! MySQL/MariaDB database and a unique Redis prefix (from the flags, or DROPLINE_TEST_MYSQL_URL
//! and DROPLINE_TEST_REDIS_URL), and kills one of them mid-run. Clients order (some retrying
//! with one Idempotency-Key), cancel, pay, let holds expire, give up mid-request and restock.
//! Once the work settles every instance's gate is checked against the database. Phase 3 runs a
//! round on one instance while its stock sells through another (`sellout.rs`). Any divergence
//! is listed and makes the exit status non-zero.

mod check;
mod client;
mod sellout;

use anyhow::Context;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::UserId;
use dropline::startup::Application;
use dropline::state::AppState;
use dropline::tools::mock_receiver::MockReceiver;
use rand::Rng;
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
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
            let mut result = phase(&format!("{server}/{name}"), Some(&redis), 3, load).await;
            if result.is_ok() {
                println!("\nphase 3: a round on instance A while its stock sells through B");
                result = match sellout::run(&format!("{server}/{name}"), &redis).await {
                    Ok(found) => {
                        println!("  divergences: {}", found.len());
                        for d in &found {
                            println!("    DIVERGENCE: {d}");
                        }
                        result.map(|n| n + found.len())
                    }
                    Err(e) => Err(e),
                };
            }
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
        .map(|_| tokio::spawn(client::client(world.clone(), deadline)))
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
    let found = check::settle_and_check(db, &world, &instances).await?;
    let c = &world.counters;
    let (orders, rounds) = (
        check::statuses(db, "orders").await?,
        check::statuses(db, "product_notification_history").await?,
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

pub(crate) async fn admin_call(world: &World, url: &str, body: Value) -> anyhow::Result<Value> {
    post_as(&world.client, &world.admin, url, body).await
}

/// POSTs `body` to `url` as `token`; answers the body of a 2xx, else fails with the answer.
pub(crate) async fn post_as(
    client: &reqwest::Client,
    token: &str,
    url: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let resp = client
        .post(url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    let status = resp.status();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    anyhow::ensure!(status.is_success(), "{url}: {status}: {value}");
    Ok(value)
}
