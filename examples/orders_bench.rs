//! Load generator for the orders path, over loopback against a server started in this
//! process on its own runtime (its own threads), so client and server share only the CPU.
//!
//! `cargo run --release --example orders_bench -- [--database-url URL] [--seconds N]`
//! Scenarios, in one run: (a) burst: 10,000 distinct buyers race for 100 units over ~500
//! connections; (b) sustained reservations with ample stock, then sold-out answers beside
//! `/healthz` at the same time; (c) `GET /products/{id}` reads beside `/healthz`. Figures go
//! to stdout.

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use dropline::auth::{Principal, TokenKeys};
use dropline::domain::ids::UserId;

#[path = "common/server.rs"]
mod server;
use server::start_server;

const SECRET: &str = "orders-bench-secret-of-a-decent-length";

#[derive(Debug, Parser)]
struct Args {
    /// Database; a fresh temporary SQLite file when omitted. A MySQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// Length of each timed phase of (b) and (c).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests in flight during (b) and (c).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Buyers in the burst (a).
    #[arg(long, default_value_t = 10_000)]
    buyers: i64,
    /// Connections during the burst (a).
    #[arg(long, default_value_t = 500)]
    burst_connections: usize,
    /// Server runtime worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

struct Bench {
    base: String,
    client: reqwest::Client,
    keys: TokenKeys,
    admin: String,
}

impl Bench {
    fn user(&self, id: i64) -> String {
        self.keys
            .mint(
                Principal::User(UserId::from_db(id)),
                Duration::from_secs(3600),
            )
            .unwrap_or_default()
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
        Ok(resp.json().await?)
    }

    async fn product(&self, stock: i64) -> anyhow::Result<i64> {
        let brand = self
            .post(
                "/brands",
                &self.admin,
                json!({"name": "Helinox", "category": "camping"}),
            )
            .await?;
        let body = json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000,
            "stock": stock, "per_user_limit": 1});
        let p = self.post("/products", &self.admin, body).await?;
        p["id"].as_i64().context("product id")
    }

    /// Sends one request; answers its status (0 on a transport error) and latency.
    async fn send(&self, path: &str, token: Option<&str>) -> (u16, Duration) {
        let started = Instant::now();
        let mut req = if token.is_some() {
            self.client.post(format!("{}{path}", self.base))
        } else {
            self.client.get(format!("{}{path}", self.base))
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let status = match req.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                let _ = r.bytes().await;
                s
            }
            Err(_) => 0,
        };
        (status, started.elapsed())
    }

    /// Closed loop: `concurrency` requests in flight for `secs`; `token_for(n)` gives the
    /// token of the n-th request (None for a GET).
    async fn sustain(
        self: &Arc<Self>,
        path: String,
        secs: u64,
        concurrency: usize,
        token_for: impl Fn(i64) -> Option<String> + Send + Sync + 'static,
    ) -> Run {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let next = Arc::new(AtomicI64::new(0));
        let token_for = Arc::new(token_for);
        let started = Instant::now();
        let workers = (0..concurrency).map(|_| {
            let (me, next, path, token_for) =
                (self.clone(), next.clone(), path.clone(), token_for.clone());
            tokio::spawn(async move {
                let mut run = Run::default();
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let token = token_for(n);
                    let (s, d) = me.send(&path, token.as_deref()).await;
                    run.record(s, d);
                }
                run
            })
        });
        let mut total = Run::default();
        for w in futures::future::join_all(workers).await {
            total.merge(w.unwrap_or_default());
        }
        total.elapsed = started.elapsed();
        total
    }
}

/// Answers and latencies of one phase.
#[derive(Default)]
struct Run {
    statuses: std::collections::BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Run {
    fn record(&mut self, status: u16, d: Duration) {
        *self.statuses.entry(status).or_default() += 1;
        self.latencies.push(d);
    }
    fn merge(&mut self, other: Run) {
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.latencies.extend(other.latencies);
    }
    fn count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
    fn rate(&self, status: u16) -> f64 {
        self.count(status) as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies.get(i).copied().unwrap_or_default()
    }
    fn line(&mut self, name: &str) -> String {
        let (p50, p99) = (self.pct(0.50), self.pct(0.99));
        format!(
            "{name}: statuses {:?} in {:.2?}; p50 {p50:.2?} p99 {p99:.2?}",
            self.statuses, self.elapsed
        )
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        )
    });
    let (base, stop) = start_server(url, args.server_threads, SECRET)?;
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys.mint(Principal::Admin, Duration::from_secs(3600))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.burst_connections.max(args.concurrency))
        .timeout(Duration::from_secs(30))
        .build()?;
    let bench = Arc::new(Bench {
        base,
        client,
        keys,
        admin,
    });

    // (a) Burst: every buyer's token minted up front; ~burst_connections in flight.
    let product = bench.product(100).await?;
    let tokens: Vec<String> = (1..=args.buyers).map(|u| bench.user(u)).collect();
    let path = format!("/products/{product}/orders");
    let started = Instant::now();
    let mut burst = Run::default();
    let answers: Vec<(u16, Duration)> = futures::stream::iter(tokens.iter())
        .map(|t| bench.send(&path, Some(t)))
        .buffer_unordered(args.burst_connections)
        .collect()
        .await;
    burst.elapsed = started.elapsed();
    for (s, d) in answers {
        burst.record(s, d);
    }
    println!("(a) {}", burst.line("burst"));
    println!("(a) successes: {} (expected exactly 100)", burst.count(201));

    // (b) Sustained reservations: ample stock, a new buyer per request.
    let ample = bench.product(1_000_000_000).await?;
    let me = bench.clone();
    let base_user = 1_000_000;
    let mut held = bench
        .sustain(
            format!("/products/{ample}/orders"),
            args.seconds,
            args.concurrency,
            move |n| Some(me.user(base_user + n)),
        )
        .await;
    println!("(b) {}", held.line("reservations"));
    println!("(b) durable reservations/s: {:.0}", held.rate(201));

    // (b) Sold-out answers beside /healthz: both at once, half the requests in flight each,
    // so both see the same machine (other load moves a back-to-back comparison).
    let minted = Arc::new(tokens);
    let half = (args.concurrency / 2).max(1);
    let (mut health, mut sold) = tokio::join!(
        bench.sustain("/healthz".into(), args.seconds, half, |_| None),
        bench.sustain(
            format!("/products/{product}/orders"),
            args.seconds,
            half,
            move |n| {
                // Tokens minted before the run, so the client does the same work as for /healthz.
                minted.get(n as usize % minted.len()).cloned()
            },
        )
    );
    println!("(b) {}", health.line("healthz"));
    println!("(b) {}", sold.line("sold-out"));
    println!(
        "(b) healthz/s {:.0}, sold-out/s {:.0}, ratio {:.2}",
        health.rate(200),
        sold.rate(409),
        sold.rate(409) / health.rate(200)
    );

    // (c) Product reads beside /healthz, both at once as in (b).
    let (mut health, mut reads) = tokio::join!(
        bench.sustain("/healthz".into(), args.seconds, half, |_| None),
        bench.sustain(format!("/products/{ample}"), args.seconds, half, |_| None),
    );
    println!("(c) {}", health.line("healthz"));
    println!("(c) {}", reads.line("product reads"));
    println!(
        "(c) healthz/s {:.0}, reads/s {:.0}, ratio {:.2}",
        health.rate(200),
        reads.rate(200),
        reads.rate(200) / health.rate(200)
    );

    stop.cancel();
    Ok(())
}
