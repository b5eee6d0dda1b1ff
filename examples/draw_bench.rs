//! Draw benchmark: a draw of 1,000,000 entries for 1,000 units (ranks written, winners'
//! orders created, the digest computed) timed on the store, with the process' peak RSS;
//! then entries accepted over HTTP per second against a server started in this process on
//! its own runtime.
//!
//! `cargo run --release --example draw_bench -- [--database-url URL] [--entries N]
//! [--units N] [--seconds N]`. A MySQL database must be empty. Figures go to stdout.

use anyhow::Context;
use chrono::{Duration as ChronoDuration, Utc};
use clap::Parser;
use serde_json::json;
use sqlx::{Connection, QueryBuilder};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use dropline::auth::{Principal, TokenKeys};
use dropline::domain::draws::{SaleMode, rank_key};
use dropline::domain::ids::UserId;
use dropline::domain::product::{LinePolicy, NewProduct, SaleSettings};
use dropline::store::Store;

#[path = "common/brand.rs"]
mod brand;
#[path = "common/server.rs"]
mod server;
use brand::camping_brand;
use server::start_server;

const SECRET: &str = "draw-bench-secret-of-a-decent-length";

#[derive(Debug, Parser)]
struct Args {
    /// Database; a fresh temporary SQLite file when omitted. A MySQL database must be empty.
    #[arg(long)]
    database_url: Option<String>,
    /// Entries in the draw.
    #[arg(long, default_value_t = 1_000_000)]
    entries: i64,
    /// Units the draw gives out.
    #[arg(long, default_value_t = 1_000)]
    units: i64,
    /// Length of the timed HTTP entry phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Requests in flight during the HTTP phase.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Server runtime worker threads.
    #[arg(long, default_value_t = 2)]
    server_threads: usize,
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Resets the peak RSS counter (Linux: writing 5 to clear_refs), so the next reading is the
/// peak of what follows.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn sale(units_window: (chrono::DateTime<Utc>, chrono::DateTime<Utc>)) -> SaleSettings {
    SaleSettings {
        price: 1000,
        sale_starts_at: Some(units_window.0),
        sale_ends_at: Some(units_window.1),
        per_user_limit: 3,
        hold_seconds: 1800,
        line_policy: LinePolicy::Restart,
        sale_mode: SaleMode::Draw,
    }
}

/// Writes `n` entries (quantities 1..=3) for `product` straight into the table, in
/// multi-row INSERTs of 1,000; the keys are computed as an entry computes them.
async fn load_entries(url: &str, product: i64, seed: &str, n: i64) -> anyhow::Result<()> {
    let now = Utc::now().timestamp_millis();
    macro_rules! load {
        ($conn:expr) => {{
            let mut conn = $conn;
            let mut tx = conn.begin().await?;
            for start in (1..=n).step_by(1000) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO draw_entry (product_id, user_id, quantity, status, draw_key, \
                     created_at, updated_at) ",
                );
                q.push_values(start..(start + 1000).min(n + 1), |mut b, user| {
                    b.push_bind(product)
                        .push_bind(user)
                        .push_bind(1 + user % 3)
                        .push_bind("ENTERED")
                        .push_bind(rank_key(seed, user))
                        .push_bind(now)
                        .push_bind(now);
                });
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }};
    }
    if url.starts_with("sqlite:") {
        load!(sqlx::SqliteConnection::connect(url).await?);
    } else {
        load!(sqlx::MySqlConnection::connect(url).await?);
    }
    Ok(())
}

async fn seed_of(url: &str, product: i64) -> anyhow::Result<String> {
    let sql = "SELECT draw_seed FROM product WHERE id = ?";
    let seed: Option<String> = if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query_scalar(sql)
            .bind(product)
            .fetch_one(&mut c)
            .await?
    } else {
        let mut c = sqlx::MySqlConnection::connect(url).await?;
        sqlx::query_scalar(sql)
            .bind(product)
            .fetch_one(&mut c)
            .await?
    };
    seed.context("the product has no seed")
}

/// The timed draw on the store: loads the entries, runs the draw, prints its figures.
async fn draw(store: &Arc<dyn Store>, url: &str, args: &Args) -> anyhow::Result<()> {
    let now = Utc::now();
    let brand = camping_brand(store.as_ref(), now).await?;
    let window = (
        now - ChronoDuration::hours(1),
        now + ChronoDuration::hours(1),
    );
    let mut product = NewProduct::parse(
        "Chair One draw",
        &[brand.id.get()],
        args.units,
        sale(window),
    )?;
    product.draw_seed = Some(dropline::shop::draws::new_seed()?);
    let product = store.create_product(&product, now).await?;
    let seed = seed_of(url, product.id.get()).await?;
    let started = Instant::now();
    load_entries(url, product.id.get(), &seed, args.entries).await?;
    println!(
        "loaded {} entries in {:.1} s (bulk INSERT, not timed below)",
        args.entries,
        started.elapsed().as_secs_f64()
    );
    let before = peak_rss_mib();
    reset_peak_rss();
    let at = window.1 + ChronoDuration::seconds(1);
    let started = Instant::now();
    let done = store
        .run_draw(product.id, at, at + ChronoDuration::minutes(5))
        .await?
        .context("the draw did not run")?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "draw of {} entries for {} units: {:.2} s (ranks written, {} winners' orders for {} units, digest); peak RSS {:.1} MiB (before the draw {:.1} MiB)",
        args.entries,
        args.units,
        secs,
        done.wins.len(),
        done.units,
        peak_rss_mib(),
        before
    );
    Ok(())
}

/// Entries over HTTP: distinct users `PUT /products/{id}/entry` for `seconds`.
async fn entries_over_http(url: &str, args: &Args) -> anyhow::Result<()> {
    let (base, stop) = start_server(url.to_owned(), args.server_threads, SECRET)?;
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys.mint(Principal::Admin, Duration::from_secs(3600))?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let brand: serde_json::Value = client
        .post(format!("{base}/brands"))
        .bearer_auth(&admin)
        .json(&json!({"name": "Kith", "category": "fashion"}))
        .send()
        .await?
        .json()
        .await?;
    let now = Utc::now();
    let product: serde_json::Value = client
        .post(format!("{base}/products"))
        .bearer_auth(&admin)
        .json(
            &json!({"name": "Draw over HTTP", "brand_ids": [brand["id"]], "price": 1000,
            "stock": 10, "sale_mode": "draw", "per_user_limit": 2,
            "sale_starts_at": now - ChronoDuration::minutes(1),
            "sale_ends_at": now + ChronoDuration::hours(1)}),
        )
        .send()
        .await?
        .json()
        .await?;
    let id = product["id"].as_i64().context("product id")?;
    let path = format!("{base}/products/{id}/entry");
    // Tokens are minted before the clock starts (as a client population would hold them):
    // enough for 20,000 entries a second, minted on demand beyond that.
    let first_user = 10_000_000_i64;
    let premint = i64::try_from(args.seconds)
        .unwrap_or(60)
        .saturating_mul(20_000);
    let tokens: Arc<Vec<String>> = Arc::new(
        (first_user..first_user + premint)
            .map(|u| {
                keys.mint(
                    Principal::User(UserId::from_db(u)),
                    Duration::from_secs(3600),
                )
            })
            .collect::<Result<_, _>>()?,
    );
    let next = Arc::new(AtomicI64::new(first_user));
    let accepted = Arc::new(AtomicI64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let workers = (0..args.concurrency).map(|_| {
        let (client, path, next, accepted, keys, tokens) = (
            client.clone(),
            path.clone(),
            next.clone(),
            accepted.clone(),
            keys.clone(),
            tokens.clone(),
        );
        tokio::spawn(async move {
            while Instant::now() < deadline {
                let user = next.fetch_add(1, Ordering::Relaxed);
                let token = usize::try_from(user - first_user)
                    .ok()
                    .and_then(|i| tokens.get(i).cloned())
                    .unwrap_or_else(|| {
                        keys.mint(
                            Principal::User(UserId::from_db(user)),
                            Duration::from_secs(3600),
                        )
                        .unwrap_or_default()
                    });
                let resp = client
                    .put(&path)
                    .bearer_auth(token)
                    .json(&json!({"quantity": 1 + user % 2}))
                    .send()
                    .await;
                if let Ok(r) = resp
                    && r.status().as_u16() == 201
                {
                    accepted.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    futures::future::join_all(workers).await;
    let secs = started.elapsed().as_secs_f64();
    let n = accepted.load(Ordering::Relaxed);
    println!(
        "entries over HTTP: {n} accepted in {secs:.1} s: {:.0}/s ({} in flight)",
        n as f64 / secs,
        args.concurrency
    );
    stop.cancel();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let url = server::database_url(args.database_url.as_deref(), dir.path(), "draw_bench.db");
    let store = dropline::store::connect(&url, &tokio_util::task::TaskTracker::new()).await?;
    store.migrate().await?;
    println!(
        "database {}",
        if url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "MySQL"
        }
    );
    draw(&store, &url, &args).await?;
    store.close().await;
    entries_over_http(&url, &args).await?;
    Ok(())
}
