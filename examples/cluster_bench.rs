//! Benchmarks of several instances sharing one Redis (see docs/benchmarks.md, "Several instances").
//!
//!     cargo run --release --example cluster_bench -- p1 [DB_URL]     # pacing over three instances
//!     cargo run --release --example cluster_bench -- burst [DB_URL]  # order burst over three instances
//!     cargo run --release --example cluster_bench -- burst-vs-cluster [RUNS]
//!         # the burst on standalone Redis and on a Redis Cluster, alternating, RUNS each (3)
//!
//! `burst-vs-cluster` takes the cluster's nodes from `DROPLINE_REDIS_CLUSTER_URL` and runs each
//! burst on a fresh SQLite file; it prints every run, the medians and the ratio of the p99s.
//!
//! Three instances run in this process, each with its own pool, gate mirror and engine, and share
//! the database and Redis (`DROPLINE_REDIS_URL`, default redis://127.0.0.1:6379/). DB_URL defaults
//! to a fresh SQLite file; `mysql://root@127.0.0.1:3306` makes a fresh database.

use anyhow::Context;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::UserId;
use dropline::startup::Application;
use dropline::tools::mock_receiver::{MockReceiver, busiest_second};
use futures::StreamExt;
use rand::Rng;
use serde_json::{Value, json};
use sqlx::Connection;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "benchmark-secret-of-a-decent-length";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("burst-vs-cluster") {
        let runs = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
        return burst_vs_cluster(runs).await;
    }
    let db = database(args.get(1).map(String::as_str)).await?;
    let redis =
        std::env::var("DROPLINE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    match args.first().map(String::as_str) {
        Some("p1") => p1(&db.0, &redis).await,
        Some("burst") => burst(&db.0, &redis).await.map(|_| ()),
        _ => anyhow::bail!("usage: cluster_bench p1|burst [DB_URL] | burst-vs-cluster [RUNS]"),
    }
}

async fn database(server: Option<&str>) -> anyhow::Result<(String, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = match server {
        Some(server) if server.starts_with("mysql:") => {
            let name = format!("dropline_bench_{}", rand::rng().random::<u32>());
            let mut conn = sqlx::MySqlConnection::connect(server).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await?;
            format!("{}/{name}", server.trim_end_matches('/'))
        }
        _ => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        ),
    };
    println!("database: {}", url.split('?').next().unwrap_or(&url));
    Ok((url, dir))
}

/// Starts three instances sharing the database and Redis; returns their base URLs.
async fn cluster(
    db: &str,
    redis: &str,
    notify_url: Option<String>,
) -> anyhow::Result<(Vec<String>, CancellationToken)> {
    let prefix = format!("dropline-bench-{}", rand::rng().random::<u32>());
    let shutdown = CancellationToken::new();
    let mut bases = Vec::new();
    for i in 0..3 {
        let mut settings = Settings::for_database(db);
        settings.jwt_secret = Some(SECRET.into());
        settings.redis.url = Some(redis.to_owned());
        settings.redis.ca_file = std::env::var("DROPLINE_REDIS_CA_FILE").ok();
        settings.redis.prefix = prefix.clone();
        settings.redis.instance_id = Some(format!("bench-{i}"));
        settings.notify.notify_url = notify_url.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let app = Application::build(&settings, listener).await?;
        bases.push(format!("http://{}", app.local_addr()?));
        tokio::spawn(app.run(shutdown.clone()));
    }
    Ok((bases, shutdown))
}

fn token(p: Principal) -> anyhow::Result<String> {
    Ok(TokenKeys::new(SECRET.as_bytes()).mint(p, Duration::from_secs(3600))?)
}

async fn call(
    client: &reqwest::Client,
    url: String,
    token: &str,
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
    anyhow::ensure!(status.is_success(), "{status}: {value}");
    Ok(value)
}

async fn product(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    stock: i64,
) -> anyhow::Result<i64> {
    let brand = call(
        client,
        format!("{base}/brands"),
        admin,
        json!({"name": "Helinox", "category": "camping"}),
    )
    .await?;
    let p = call(
        client,
        format!("{base}/products"),
        admin,
        json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000, "stock": stock}),
    )
    .await?;
    p["id"].as_i64().context("product id")
}

/// Two products, a 10,000-person line each, restocked at once on two different instances.
async fn p1(db: &str, redis: &str) -> anyhow::Result<()> {
    let receiver = MockReceiver::start().await?;
    receiver.set_latency(Duration::from_millis(20));
    let (bases, shutdown) = cluster(db, redis, Some(receiver.url())).await?;
    let client = reqwest::Client::new();
    let admin = token(Principal::Admin)?;
    let line: Vec<i64> = (1..=10_000).collect();
    let mut products = Vec::new();
    for _ in 0..2 {
        let id = product(&client, &bases[0], &admin, 10_000).await?;
        call(
            &client,
            format!("{}/admin/products/{id}/subscriptions/import", bases[0]),
            &admin,
            json!({"user_ids": line}),
        )
        .await?;
        products.push(id);
    }
    let (a, b) = tokio::join!(
        call(
            &client,
            format!(
                "{}/products/{}/notifications/re-stock?wait=true",
                bases[1], products[0]
            ),
            &admin,
            json!({})
        ),
        call(
            &client,
            format!(
                "{}/products/{}/notifications/re-stock?wait=true",
                bases[2], products[1]
            ),
            &admin,
            json!({})
        ),
    );
    println!("rounds: {} {}", a?["status"], b?["status"]);
    let arrivals = receiver.arrivals();
    let first = arrivals.first().context("nothing arrived")?.at;
    let last = arrivals.last().context("nothing arrived")?.at;
    let mean = (arrivals.len() - 1) as f64 / (last - first).as_secs_f64();
    println!(
        "P1x3 arrived {} mean rate {mean:.1}/s busiest sliding second {}",
        arrivals.len(),
        busiest_second(&arrivals)
    );
    shutdown.cancel();
    Ok(())
}

/// What one burst measured.
struct Burst {
    reserved: usize,
    other: usize,
    p50: Duration,
    p99: Duration,
}

/// The burst on standalone Redis and on a Redis Cluster, alternating, `runs` times each.
async fn burst_vs_cluster(runs: usize) -> anyhow::Result<()> {
    let standalone =
        std::env::var("DROPLINE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let cluster = std::env::var("DROPLINE_REDIS_CLUSTER_URL")
        .context("DROPLINE_REDIS_CLUSTER_URL (the cluster's nodes) is not set")?;
    let mut p99s: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let mut p50s: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for run in 1..=runs {
        for (i, (name, url)) in [("standalone", &standalone), ("cluster", &cluster)]
            .into_iter()
            .enumerate()
        {
            let db = database(None).await?;
            println!("run {run}, {name} Redis");
            let b = burst(&db.0, url).await?;
            anyhow::ensure!(
                b.reserved == 100 && b.other == 0,
                "{name}: {} reserved, {} neither 201 nor 409",
                b.reserved,
                b.other
            );
            p99s[i].push(b.p99);
            p50s[i].push(b.p50);
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (s99, c99) = (median(&mut p99s[0]), median(&mut p99s[1]));
    let (s50, c50) = (median(&mut p50s[0]), median(&mut p50s[1]));
    println!(
        "medians over {runs} runs: standalone p50 {} ms p99 {} ms; cluster p50 {} ms p99 {} ms; \
         cluster/standalone p99 {:.2}",
        s50.as_millis(),
        s99.as_millis(),
        c50.as_millis(),
        c99.as_millis(),
        c99.as_secs_f64() / s99.as_secs_f64()
    );
    Ok(())
}

/// 10,000 distinct buyers for 100 units, about 500 at once, spread over three instances.
async fn burst(db: &str, redis: &str) -> anyhow::Result<Burst> {
    let (bases, shutdown) = cluster(db, redis, None).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(500)
        .build()?;
    let admin = token(Principal::Admin)?;
    let id = product(&client, &bases[0], &admin, 100).await?;
    let tokens: Vec<String> = (1..=10_000)
        .map(|u| token(Principal::User(UserId::from_db(u))))
        .collect::<Result<_, _>>()?;
    let started = Instant::now();
    let mut results: Vec<(u16, Duration)> = futures::stream::iter(tokens.iter().enumerate())
        .map(|(i, t)| {
            let (client, url) = (
                client.clone(),
                format!("{}/products/{id}/orders", bases[i % 3]),
            );
            async move {
                let t0 = Instant::now();
                let status = client
                    .post(url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, t0.elapsed())
            }
        })
        .buffer_unordered(500)
        .collect()
        .await;
    let total = started.elapsed();
    results.sort_by_key(|r| r.1);
    let pct = |p: f64| results[((results.len() as f64 * p) as usize).min(results.len() - 1)].1;
    let ok = results.iter().filter(|r| r.0 == 201).count();
    let other = results.iter().filter(|r| r.0 != 201 && r.0 != 409).count();
    println!(
        "burst over 3 instances: {ok} reserved, {other} neither 201 nor 409, total {:.2} s, p50 {} ms, p99 {} ms",
        total.as_secs_f64(),
        pct(0.50).as_millis(),
        pct(0.99).as_millis()
    );
    shutdown.cancel();
    Ok(Burst {
        reserved: ok,
        other,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}
