//! Waiting-room benchmark, over HTTP against a server started in this process on its own
//! runtime: (1) joins before the start, per second; (2) the start over 1,000,000 early
//! joiners (bulk-loaded): time from `sale_starts_at` to the first admissions, and one
//! standing read of the last place; (3) a 100-unit sale with 100,000 waiters (bulk-loaded),
//! thousands of them on the event stream: units sold, admissions made, and how long after
//! the last unit went every stream was told `SOLD_OUT`, with the process' RSS.
//!
//! `cargo run --release --example queue_bench -- [--database-url URL] [--joins N]
//! [--early N] [--waiters N] [--streams N]`. A MySQL database must be empty. The process
//! holds both ends of every stream, so `--streams` stays under half the open-file limit.

use anyhow::Context;
use chrono::{Duration as ChronoDuration, Utc};
use clap::Parser;
use serde_json::{Value, json};
use sqlx::{Connection, QueryBuilder};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use dropline::auth::{Principal, TokenKeys};
use dropline::domain::draws::rank_key;
use dropline::domain::ids::UserId;

#[path = "common/server.rs"]
mod server;
use server::start_server;

const SECRET: &str = "queue-bench-secret-of-a-decent-length";

#[derive(Debug, Parser)]
struct Args {
    /// Database; a fresh temporary SQLite file when omitted. A MySQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// Joins over HTTP before the start (distinct users).
    #[arg(long, default_value_t = 100_000)]
    joins: i64,
    /// Early joiners bulk-loaded for the start.
    #[arg(long, default_value_t = 1_000_000)]
    early: i64,
    /// Waiters bulk-loaded for the sell-out.
    #[arg(long, default_value_t = 100_000)]
    waiters: i64,
    /// Of them, how many follow the event stream.
    #[arg(long, default_value_t = 9_000)]
    streams: i64,
    /// Requests in flight for the joins.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Server runtime worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

/// Resident set size of this process now (VmRSS), in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

struct Bench {
    base: String,
    url: String,
    client: reqwest::Client,
    keys: TokenKeys,
    admin: String,
    brand: i64,
}

impl Bench {
    fn user(&self, id: i64) -> String {
        self.keys
            .mint(
                Principal::User(UserId::from_db(id)),
                Duration::from_secs(7200),
            )
            .unwrap_or_default()
    }

    async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let v: Value = resp.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
        Ok(v)
    }

    /// A queued product of `stock` whose sale starts in `starts_in`.
    async fn room(&self, name: &str, stock: i64, starts_in: ChronoDuration) -> anyhow::Result<i64> {
        let p = self
            .admin_json(
                reqwest::Method::POST,
                "/products",
                Some(
                    json!({"name": name, "brand_ids": [self.brand], "price": 1000, "stock": stock,
                    "per_user_limit": 1, "sale_starts_at": Utc::now() + starts_in,
                    "queue": {"enabled": true, "admit_seconds": 120, "admit_rate": 500}}),
                ),
            )
            .await?;
        p["id"].as_i64().context("product id")
    }

    async fn start_in(&self, product: i64, secs: i64) -> anyhow::Result<chrono::DateTime<Utc>> {
        let at = Utc::now() + ChronoDuration::seconds(secs);
        self.admin_json(
            reqwest::Method::PATCH,
            &format!("/products/{product}"),
            Some(json!({"sale_starts_at": at})),
        )
        .await?;
        Ok(at)
    }

    async fn counts(&self, product: i64) -> anyhow::Result<Value> {
        self.admin_json(
            reqwest::Method::GET,
            &format!("/admin/products/{product}/queue"),
            None,
        )
        .await
    }

    /// Writes `n` early members (users `first..first+n`) straight into the table, as a join
    /// before the start writes them, in multi-row INSERTs of 1,000.
    async fn load_members(&self, product: i64, first: i64, n: i64) -> anyhow::Result<String> {
        let sql = "SELECT queue_seed FROM product WHERE id = ?";
        let now = Utc::now().timestamp_millis();
        macro_rules! load {
            ($conn:expr) => {{
                let mut conn = $conn;
                let seed: Option<String> = sqlx::query_scalar(sql)
                    .bind(product)
                    .fetch_one(&mut conn)
                    .await?;
                let seed = seed.context("the room has no seed")?;
                let mut tx = conn.begin().await?;
                for start in (first..first + n).step_by(1000) {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO queue_member (product_id, user_id, lane, rank_key, status, \
                         joined_at, updated_at) ",
                    );
                    q.push_values(start..(start + 1000).min(first + n), |mut b, user| {
                        b.push_bind(product)
                            .push_bind(user)
                            .push_bind(0)
                            .push_bind(rank_key(&seed, user))
                            .push_bind("WAITING")
                            .push_bind(now)
                            .push_bind(now);
                    });
                    q.build().execute(&mut *tx).await?;
                }
                tx.commit().await?;
                seed
            }};
        }
        Ok(if self.url.starts_with("sqlite:") {
            load!(sqlx::SqliteConnection::connect(&self.url).await?)
        } else {
            load!(sqlx::MySqlConnection::connect(&self.url).await?)
        })
    }
}

/// (1) Distinct users join a room before its start, `concurrency` in flight.
async fn joins(b: &Bench, args: &Args) -> anyhow::Result<()> {
    let id = b.room("Joins", 100, ChronoDuration::minutes(10)).await?;
    let first = 1_000_000_000_i64;
    let tokens: Arc<Vec<String>> =
        Arc::new((first..first + args.joins).map(|u| b.user(u)).collect());
    let next = Arc::new(AtomicI64::new(0));
    let joined = Arc::new(AtomicI64::new(0));
    let per_second = Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    let path = format!("{}/products/{id}/queue", b.base);
    let started = Instant::now();
    let workers = (0..args.concurrency).map(|_| {
        let (client, path, next, joined, tokens, per_second) = (
            b.client.clone(),
            path.clone(),
            next.clone(),
            joined.clone(),
            tokens.clone(),
            per_second.clone(),
        );
        tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = usize::try_from(i).ok().and_then(|i| tokens.get(i)) else {
                    break;
                };
                let resp = client.put(&path).bearer_auth(token).send().await;
                let status = resp.as_ref().map_or(0, |r| r.status().as_u16());
                if status != 201 {
                    eprintln!("a join answered {status}");
                }
                if status == 201 {
                    joined.fetch_add(1, Ordering::Relaxed);
                    let sec = started.elapsed().as_secs() as usize;
                    let mut v = per_second.lock().unwrap_or_else(|p| p.into_inner());
                    if v.len() <= sec {
                        v.resize(sec + 1, 0);
                    }
                    v[sec] += 1;
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    let secs = started.elapsed().as_secs_f64();
    let n = joined.load(Ordering::Relaxed);
    let mut full: Vec<i64> = per_second.lock().unwrap_or_else(|p| p.into_inner()).clone();
    full.pop(); // the last second is partial
    full.sort_unstable();
    let median = full.get(full.len() / 2).copied().unwrap_or(0);
    println!(
        "joins before the start: {n} of {} joined (201) in {secs:.1} s: {:.0}/s overall, median whole second {median}/s ({} in flight)",
        args.joins,
        n as f64 / secs,
        args.concurrency
    );
    let c = b.counts(id).await?;
    anyhow::ensure!(c["waiting"] == n, "counts {c}");
    Ok(())
}

/// (2) The start over `early` early joiners: the room is already in its order (each rank
/// key is indexed at join), so the start is the first admission step's indexed read.
async fn start_over_early(b: &Bench, args: &Args) -> anyhow::Result<()> {
    let id = b.room("Start", 1000, ChronoDuration::hours(1)).await?;
    let first = 2_000_000_000_i64;
    let loaded = Instant::now();
    let seed = b.load_members(id, first, args.early).await?;
    println!(
        "loaded {} early joiners in {:.1} s (bulk INSERT, not timed)",
        args.early,
        loaded.elapsed().as_secs_f64()
    );
    let at = b.start_in(id, 2).await?;
    loop {
        let c = b.counts(id).await?;
        if c["admitted"].as_i64().unwrap_or(0) > 0 {
            let after = (Utc::now() - at).num_milliseconds();
            println!(
                "start over {} early joiners: first {} admitted {after} ms after sale_starts_at (the step runs every 200 ms)",
                args.early, c["admitted"]
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = (first..first + args.early)
        .max_by_key(|u| rank_key(&seed, *u))
        .context("no members")?;
    let t = Instant::now();
    let s: Value = b
        .client
        .get(format!("{}/products/{id}/queue", b.base))
        .bearer_auth(b.user(last))
        .send()
        .await?
        .json()
        .await?;
    println!(
        "standing of the last place: {} in {:.0} ms",
        s,
        t.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// (3) A 100-unit sale with `waiters` waiting and `streams` of them on the event stream.
async fn sell_out(b: &Bench, args: &Args) -> anyhow::Result<()> {
    let units = 100;
    let id = b.room("Sell-out", units, ChronoDuration::hours(1)).await?;
    let first = 3_000_000_000_i64;
    let seed = b.load_members(id, first, args.waiters).await?;
    let mut ranked: Vec<i64> = (first..first + args.waiters).collect();
    ranked.sort_by_cached_key(|u| rank_key(&seed, *u));
    let watchers: Vec<i64> = ranked
        .iter()
        .rev()
        .take(args.streams as usize)
        .copied()
        .collect();
    let told = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let opened = Arc::new(AtomicI64::new(0));
    let stream_client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let rss_before = rss_mib();
    for u in &watchers {
        let url = format!("{}/products/{id}/queue/events?token={}", b.base, b.user(*u));
        let (client, told, opened) = (stream_client.clone(), told.clone(), opened.clone());
        tokio::spawn(async move {
            let Ok(mut resp) = client.get(url).send().await else {
                return;
            };
            opened.fetch_add(1, Ordering::Relaxed);
            let mut buf = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                if buf.contains("SOLD_OUT") {
                    told.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Instant::now());
                    return;
                }
                if buf.len() > 4096 {
                    buf.drain(..buf.len() - 64);
                }
            }
        });
    }
    while opened.load(Ordering::Relaxed) < args.streams {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{} streams open; RSS {:.0} MiB (was {:.0} MiB before they opened; client and server share the process)",
        args.streams,
        rss_mib(),
        rss_before
    );
    b.start_in(id, 2).await?;
    // The first `units` in the room's order buy as soon as they are admitted.
    let buyers = ranked.iter().take(units as usize).map(|u| {
        let (client, base, token) = (b.client.clone(), b.base.clone(), b.user(*u));
        tokio::spawn(async move {
            loop {
                let s: Value = client
                    .get(format!("{base}/products/{id}/queue"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await?;
                if s["state"] == "ADMITTED" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let r = client
                .post(format!("{base}/products/{id}/orders"))
                .bearer_auth(&token)
                .json(&json!({"quantity": 1}))
                .send()
                .await?;
            anyhow::ensure!(r.status().as_u16() == 201, "order: {}", r.status());
            Ok::<Instant, anyhow::Error>(Instant::now())
        })
    });
    let mut last_unit = None;
    for done in futures::future::join_all(buyers).await {
        let at = done??;
        last_unit = Some(last_unit.map_or(at, |l: Instant| l.max(at)));
    }
    let last_unit = last_unit.context("no unit sold")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = told.lock().unwrap_or_else(|p| p.into_inner()).len() as i64;
        if n >= args.streams || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let times = told.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let slowest = times
        .iter()
        .map(|t| t.saturating_duration_since(last_unit))
        .max()
        .unwrap_or_default();
    let c = b.counts(id).await?;
    let product = b
        .admin_json(reqwest::Method::GET, &format!("/products/{id}"), None)
        .await?;
    let admitted: i64 = c["admitted_per_second"]
        .as_array()
        .map_or(0, |a| a.iter().filter_map(Value::as_i64).sum());
    println!(
        "sell-out of {units} units to {} waiters: stock now {}, {} ordered, {admitted} admitted in all, {} SOLD_OUT; {} of {} streams told SOLD_OUT, the last {:.0} ms after the last unit went; RSS {:.0} MiB",
        args.waiters,
        product["stock"],
        c["ordered"],
        c["sold_out"],
        times.len(),
        args.streams,
        slowest.as_secs_f64() * 1000.0,
        rss_mib()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = server::database_url(args.database_url.as_deref(), dir.path(), "queue_bench.db");
    println!(
        "database {}",
        if url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "MySQL"
        }
    );
    let (base, stop) = start_server(url.clone(), args.server_threads, SECRET)?;
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys.mint(Principal::Admin, Duration::from_secs(7200))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let mut b = Bench {
        base,
        url,
        client,
        keys,
        admin,
        brand: 0,
    };
    let brand = b
        .admin_json(
            reqwest::Method::POST,
            "/brands",
            Some(json!({"name": "Helinox", "category": "camping"})),
        )
        .await?;
    b.brand = brand["id"].as_i64().context("brand id")?;
    joins(&b, &args).await?;
    start_over_early(&b, &args).await?;
    sell_out(&b, &args).await?;
    stop.cancel();
    Ok(())
}
