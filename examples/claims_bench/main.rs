//! Claims benchmark (see docs/benchmarks.md, "Claims"): (1) the same 100,000-person line,
//! 1,000 units and buyer population told by a broadcast round and then by a claim round in
//! one run, against a server started in this process on its own runtime: notifications per
//! unit sold in each mode and the time until every unit is sold; (2) the claim-expiry sweep
//! rate over 100,000 due claims written straight into the table (run first, before any
//! server with a sweeper of its own exists).
//!
//! `cargo run --release --example claims_bench -- [--database-url URL] [--runs N]
//! [--sweeps N] [--phase all|rounds|sweep] [--provider-latency-ms MS]`. A MySQL database must
//! be empty.

use anyhow::Context;
use clap::Parser;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::tools::mock_receiver::MockReceiver;

#[path = "../common/brand.rs"]
mod brand;
mod buyers;
#[path = "../common/server.rs"]
mod server;
mod sweep;

use buyers::{Buyers, Counts, Population};

const SECRET: &str = "claims-bench-secret-of-a-decent-length";

#[derive(Debug, Parser)]
struct Args {
    /// Database; a fresh temporary SQLite file when omitted. A MySQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// What to run.
    #[arg(long, default_value = "all", value_parser = ["all", "rounds", "sweep"])]
    phase: String,
    /// People in each line.
    #[arg(long, default_value_t = 100_000)]
    line: i64,
    /// Units each restock adds.
    #[arg(long, default_value_t = 1_000)]
    units: i64,
    /// Percentage of those notified who order; the others never do.
    #[arg(long, default_value_t = 70)]
    take_share: u64,
    /// Shortest delay from alert to order (ms).
    #[arg(long, default_value_t = 200)]
    min_delay_ms: u64,
    /// Longest delay from alert to order (ms).
    #[arg(long, default_value_t = 3_000)]
    max_delay_ms: u64,
    /// How long a claim sets its unit aside.
    #[arg(long, default_value_t = 5)]
    claim_seconds: i64,
    /// Notifications per second (the server's global rate).
    #[arg(long, default_value_t = 1_000)]
    rate: u32,
    /// How long the provider takes to answer each notification (ms).
    #[arg(long, default_value_t = 0)]
    provider_latency_ms: u64,
    /// Runs of the two rounds (each with its own seed).
    #[arg(long, default_value_t = 3)]
    runs: u64,
    /// Due claims per sweep.
    #[arg(long, default_value_t = 100_000)]
    claims: i64,
    /// Timed sweeps.
    #[arg(long, default_value_t = 5)]
    sweeps: usize,
    /// Server runtime worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

/// A round of one mode, as the buyers and the round read saw it.
struct Side {
    notified: i64,
    counts: Counts,
    expired: i64,
    status: String,
}

impl Side {
    fn per_unit(&self) -> f64 {
        self.notified as f64 / self.counts.placed.max(1) as f64
    }

    fn sold_in(&self) -> f64 {
        self.counts.sold_in.map_or(f64::NAN, |d| d.as_secs_f64())
    }
}

/// The admin's HTTP calls to the benchmark's server.
struct Admin {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Admin {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("call the server");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("a JSON answer")
    }

    /// A sold-out product with users 1..=line in its line.
    async fn product(&self, brand: &Value, extra: Value, line: i64) -> i64 {
        let mut body = json!({"name": "Chair One", "brand_ids": [brand], "price": 1000,
                              "stock": 0, "per_user_limit": 1});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let p = self
            .call(reqwest::Method::POST, "/products", Some(body))
            .await;
        let id = p["id"].as_i64().expect("product id");
        let users: Vec<i64> = (1..=line).collect();
        for chunk in users.chunks(50_000) {
            let path = format!("/admin/products/{id}/subscriptions/import");
            let body = json!({ "user_ids": chunk });
            self.call(reqwest::Method::POST, &path, Some(body)).await;
        }
        id
    }
}

/// Restocks `product`, lets the population buy and waits for the round's end.
async fn round(
    admin: &Admin,
    receiver: &MockReceiver,
    product: i64,
    args: &Args,
    pop: Population,
) -> anyhow::Result<Side> {
    let keys = TokenKeys::new(SECRET.as_bytes());
    let buyers = Buyers::new(&admin.base, keys, product, args.units as u64, pop);
    receiver.set_hook(buyers.hook());
    buyers.start_clock();
    let path = format!("/products/{product}/notifications/re-stock");
    let opened = admin
        .call(
            reqwest::Method::POST,
            &path,
            Some(json!({ "quantity": args.units })),
        )
        .await;
    let n = opened["round"].as_i64().context("round number")?;
    let deadline = Instant::now() + Duration::from_secs(900);
    let path = format!("/products/{product}/notifications/rounds/{n}");
    let ended = loop {
        let r = admin.call(reqwest::Method::GET, &path, None).await;
        if r["status"] != "IN_PROGRESS" {
            break r;
        }
        anyhow::ensure!(Instant::now() < deadline, "the round did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let counts = buyers.settle().await;
    Ok(Side {
        notified: ended["notified_count"].as_i64().context("notified_count")?,
        expired: ended["claims"]["expired"].as_i64().unwrap_or(0),
        status: ended["status"].as_str().unwrap_or("?").to_owned(),
        counts,
    })
}

/// Seconds each claim of `product` had left when its alert was sent (`claim_expires_at`
/// minus `sent_at`, both from the alert's body): its least and its median.
fn time_left(receiver: &MockReceiver, product: i64) -> (f64, f64) {
    let left: Vec<f64> = receiver
        .arrivals()
        .iter()
        .filter(|a| a.notification.product_id == product)
        .filter_map(|a| {
            let body: Value = serde_json::from_slice(&a.body).ok()?;
            let at = |k: &str| chrono::DateTime::parse_from_rfc3339(body[k].as_str()?).ok();
            Some((at("claim_expires_at")? - at("sent_at")?).as_seconds_f64())
        })
        .collect();
    let least = left.iter().copied().fold(f64::NAN, f64::min);
    (least, median(left))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Phase 1: both modes, `runs` times; prints each run and the medians.
async fn rounds(url: &str, args: &Args) -> anyhow::Result<()> {
    let receiver = MockReceiver::start().await?;
    receiver.set_latency(Duration::from_millis(args.provider_latency_ms));
    let mut settings = Settings::for_database(url);
    settings.jwt_secret = Some(SECRET.into());
    settings.notify.notify_url = Some(receiver.url());
    settings.notify.notify_rate = args.rate;
    let (base, stop) = server::start_with(settings, args.server_threads)?;
    let token =
        TokenKeys::new(SECRET.as_bytes()).mint(Principal::Admin, Duration::from_secs(7200))?;
    let admin = Admin {
        base,
        http: reqwest::Client::new(),
        token,
    };
    let brand = admin
        .call(
            reqwest::Method::POST,
            "/brands",
            Some(json!({"name": "Helinox", "category": "camping"})),
        )
        .await;
    println!(
        "rounds: line {}, {} units, {}% order {}..{} ms after their alert, claims {} s, {}/s, provider answers in {} ms",
        args.line,
        args.units,
        args.take_share,
        args.min_delay_ms,
        args.max_delay_ms,
        args.claim_seconds,
        args.rate,
        args.provider_latency_ms
    );
    let (mut per_b, mut per_c, mut ratio, mut sold_b, mut sold_c) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut left_least, mut left_mid) = (vec![], vec![]);
    for run in 1..=args.runs {
        let pop = Population {
            seed: rand::random(),
            share: args.take_share,
            min_ms: args.min_delay_ms,
            max_ms: args.max_delay_ms,
        };
        let b_id = admin.product(&brand["id"], json!({}), args.line).await;
        let claim = json!({"alert_mode": "claim", "claim_seconds": args.claim_seconds});
        let c_id = admin.product(&brand["id"], claim, args.line).await;
        let b = round(&admin, &receiver, b_id, args, pop).await?;
        let c = round(&admin, &receiver, c_id, args, pop).await?;
        let (least, mid) = time_left(&receiver, c_id);
        for (mode, s) in [("broadcast", &b), ("claim", &c)] {
            println!(
                "  run {run} {mode:>9}: {} notified, {} sold, {} turned away, {} other, {} claims expired; {:.2} notifications per unit sold; all sold in {:.2} s ({})",
                s.notified,
                s.counts.placed,
                s.counts.turned_away,
                s.counts.other,
                s.expired,
                s.per_unit(),
                s.sold_in(),
                s.status
            );
        }
        println!(
            "  run {run} broadcast ÷ claim notifications per unit sold: {:.2}; claim time left when its alert was sent: least {least:.2} s, median {mid:.2} s (of {} s)",
            b.per_unit() / c.per_unit(),
            args.claim_seconds
        );
        left_least.push(least);
        left_mid.push(mid);
        per_b.push(b.per_unit());
        per_c.push(c.per_unit());
        ratio.push(b.per_unit() / c.per_unit());
        sold_b.push(b.sold_in());
        sold_c.push(c.sold_in());
    }
    println!(
        "rounds, medians of {} runs: notifications per unit sold broadcast {:.2}, claim {:.2}, broadcast ÷ claim {:.2}; all sold in broadcast {:.2} s, claim {:.2} s; claim time left when sent: least {:.2} s, median {:.2} s",
        args.runs,
        median(per_b),
        median(per_c),
        median(ratio),
        median(sold_b),
        median(sold_c),
        median(left_least),
        median(left_mid)
    );
    stop.cancel();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = server::database_url(args.database_url.as_deref(), dir.path(), "claims_bench.db");
    let sqlite = url.starts_with("sqlite:");
    println!("database {}", if sqlite { "SQLite" } else { "MySQL" });
    if args.phase != "rounds" {
        let store = dropline::store::connect(&url, &tokio_util::task::TaskTracker::new()).await?;
        store.migrate().await?;
        let mut rates = Vec::new();
        for _ in 0..args.sweeps {
            rates.push(sweep::sweep_once(&store, &url, args.claims).await?);
        }
        println!(
            "sweep, median of {} sweeps of {} due claims: {:.0} expiries/s",
            args.sweeps,
            args.claims,
            median(rates)
        );
        store.close().await;
    }
    // The rounds come second: their server's own sweeper must not share the sweep's claims.
    if args.phase != "sweep" {
        rounds(&url, &args).await?;
    }
    Ok(())
}
