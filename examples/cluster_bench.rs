//! Benchmarks of several instances sharing one Redis (see docs/benchmarks.md, "Several instances").
//!
//!     cargo run --release --example cluster_bench -- p1 [DB_URL]     # pacing over three instances
//!     cargo run --release --example cluster_bench -- burst [DB_URL]  # order burst over three instances
//!
//! Three instances run in this process, each with its own pool, gate mirror and engine, and share
//! the database and Redis (`DROPLINE_REDIS_URL`, default redis://127.0.0.1:6379/). DB_URL defaults
//! to a fresh SQLite file; `mysql://root@127.0.0.1:3306` makes a fresh database.

use anyhow::Context;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::UserId;
use dropline::http::mock_receiver::{MockReceiver, busiest_second};
use dropline::startup::Application;
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
    let db = database(args.get(1).map(String::as_str)).await?;
    let redis =
        std::env::var("DROPLINE_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    match args.first().map(String::as_str) {
        Some("p1") => p1(&db.0, &redis).await,
        Some("burst") => burst(&db.0, &redis).await,
        _ => anyhow::bail!("usage: cluster_bench p1|burst [DB_URL]"),
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

/// 10,000 distinct buyers for 100 units, about 500 at once, spread over three instances.
async fn burst(db: &str, redis: &str) -> anyhow::Result<()> {
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
    Ok(())
}
