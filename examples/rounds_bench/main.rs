//! Benchmarks of restock rounds (see docs/benchmarks.md, "Restock rounds").
//!
//!     cargo run --release --example rounds_bench -- p1            # pacing at the receiver
//!     cargo run --release --example rounds_bench -- p2 [DB_URL]   # engine headroom, no limiter
//!     cargo run --release --example rounds_bench -- p5            # sell-out: starts after 0
//!     cargo run --release --example rounds_bench -- p6 [DB_URL]   # restock call latency
//!
//! DB_URL defaults to a fresh SQLite file; `mysql://root@127.0.0.1:3306` makes a fresh database.

use anyhow::Context;
use async_trait::async_trait;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::{ProductId, UserId};
use dropline::domain::product::NewProduct;
use dropline::domain::round::{Checkpoint, Recipient};
use dropline::gate::StockGate;
use dropline::notify::channel::{Channel, Notification, NullChannel, SendError};
use dropline::notify::limiter::Limiter;
use dropline::notify::webhook::WebhookChannel;
use dropline::notify::{EngineConfig, EngineParts, Notifier};
use dropline::startup::Application;
use dropline::store::{self, Store};
use dropline::tools::mock_receiver::{MockReceiver, busiest_second};
use rand::Rng;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[path = "../common/brand.rs"]
mod brand;
mod pacing;
mod watching;

use brand::{camping_brand, plain_sale};
use pacing::{limiter_alone, p1, p1_engine};
use watching::watched_engine;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("");
    let db = Database::create(args.get(1).map(String::as_str)).await?;
    match which {
        "p1" => p1(&db.url).await,
        "p2" => p2(&db.url).await,
        "p5" => p5(&db.url).await,
        "p6" => p6(&db.url).await,
        "limiter" => limiter_alone().await,
        "p1-engine" => p1_engine(&db.url).await,
        _ => anyhow::bail!("usage: rounds_bench p1|p2|p5|p6 [DB_URL]"),
    }
}

/// A fresh database for one run (a temp SQLite file, or a new MySQL database).
struct Database {
    url: String,
    _dir: tempfile::TempDir,
}

impl Database {
    async fn create(server: Option<&str>) -> anyhow::Result<Self> {
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
        Ok(Self { url, _dir: dir })
    }
}

/// A product with a line of `n` users (in chunks, straight through the store).
async fn product_with_line(
    store: &Arc<dyn Store>,
    stock: i64,
    n: i64,
) -> anyhow::Result<ProductId> {
    let now = chrono::Utc::now();
    let brand = camping_brand(store.as_ref(), now).await?;
    let sale = plain_sale();
    let product = store
        .create_product(
            &NewProduct::parse("Chair One", &[brand.id.get()], stock, sale)?,
            now,
        )
        .await?;
    let started = Instant::now();
    let users: Vec<UserId> = (1..=n).map(UserId::from_db).collect();
    for chunk in users.chunks(100_000) {
        store.import_line(product.id, chunk, now).await?;
    }
    println!(
        "line of {n} imported in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(product.id)
}

/// Serves the app on port 0; returns its state, base URL and shutdown switch.
async fn serve(
    settings: Settings,
) -> anyhow::Result<(dropline::state::AppState, String, CancellationToken)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = Application::build(&settings, listener).await?;
    let addr = format!("http://{}", app.local_addr()?);
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Ok((state, addr, shutdown))
}

const SECRET: &str = "benchmark-secret-of-a-decent-length";

fn admin_token() -> anyhow::Result<String> {
    Ok(TokenKeys::new(SECRET.as_bytes()).mint(Principal::Admin, Duration::from_secs(3600))?)
}

/// Peak resident set size of this process so far (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The engine alone, with the given channel and limiter.
fn engine(
    store: &Arc<dyn Store>,
    gate: &Arc<StockGate>,
    channel: Arc<dyn Channel>,
    limiter: Limiter,
    config: EngineConfig,
) -> Notifier {
    Notifier::new(
        EngineParts {
            store: store.clone(),
            gate: gate.clone(),
            clock: Default::default(),
            channel,
            limiter: Arc::new(limiter),
            events: Arc::new(dropline::events::EventHub::new()),
        },
        config,
    )
}

/// Opens a round on `product` and runs it to its end; returns the round and the seconds taken.
async fn run_round(
    store: &Arc<dyn Store>,
    gate: &Arc<StockGate>,
    notifier: &Notifier,
    product: ProductId,
) -> anyhow::Result<(dropline::domain::round::Round, f64)> {
    let started = Instant::now();
    let (round, _) = store
        .open_round(product, 0, &notifier.lease(), chrono::Utc::now())
        .await?;
    gate.load(
        product,
        store.get_product(product).await?.context("product")?.stock,
    );
    notifier.start(product, round.round).ended().await;
    let took = started.elapsed().as_secs_f64();
    let ended = store
        .get_round(product, round.round)
        .await?
        .context("round")?;
    Ok((ended, took))
}

/// P2: limiter off, null channel, a 1,000,000-person line; beside the raw batched insert.
async fn p2(db: &str) -> anyhow::Result<()> {
    let store = store::connect(db, &tokio_util::task::TaskTracker::new()).await?;
    store.migrate().await?;
    let n: i64 = std::env::var("P2_LINE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let product = product_with_line(&store, 1, n).await?;
    let rss_before = peak_rss_mib();
    let gate = Arc::new(StockGate::new());
    // A null channel answers at once: the in-flight bound only caps how many outcomes one
    // history write can batch, so it is set to the batch size here.
    let config = EngineConfig {
        concurrency: EngineConfig::default().batch_rows,
        ..EngineConfig::default()
    };
    let notifier = engine(
        &store,
        &gate,
        Arc::new(NullChannel),
        Limiter::unlimited(),
        config,
    );

    // The raw rate: the same batched history insert and checkpoint, no engine around it.
    let raw_product = product_with_line(&store, 1, 0).await?;
    let lease = notifier.lease();
    let (raw_round, _) = store
        .open_round(raw_product, 0, &lease, chrono::Utc::now())
        .await?;
    let started = Instant::now();
    let now = chrono::Utc::now();
    let mut batch = Vec::with_capacity(1000);
    for i in 1..=n {
        batch.push(Recipient {
            user_id: UserId::from_db(i),
            position: i,
            line_id: i,
            sent_at: now,
        });
        if batch.len() == 1000 {
            let cp = Checkpoint {
                cursor: i,
                wrapped: false,
                last_sent_user_id: Some(UserId::from_db(i)),
            };
            store
                .record_progress(raw_product, raw_round.round, &batch, &cp, &lease, now)
                .await?;
            batch.clear();
        }
    }
    let raw = n as f64 / started.elapsed().as_secs_f64();

    let (round, took) = run_round(&store, &gate, &notifier, product).await?;
    let rate = round.notified_count as f64 / took;
    println!(
        "P2 status {} notified {} in {:.2} s: {:.0}/s; raw batched insert {:.0}/s (engine/raw {:.2}); peak RSS {:.1} MiB (before the rounds {:.1} MiB)",
        round.status.as_str(),
        round.notified_count,
        took,
        rate,
        raw,
        rate / raw,
        peak_rss_mib(),
        rss_before
    );
    Ok(())
}

/// P5: 10,000-person line, 50 units, each notified user buys with chance 0.5.
async fn p5(db: &str) -> anyhow::Result<()> {
    let store = store::connect(db, &tokio_util::task::TaskTracker::new()).await?;
    store.migrate().await?;
    let product = product_with_line(&store, 50, 10_000).await?;
    let gate = Arc::new(StockGate::new());
    let receiver = MockReceiver::start().await?;
    receiver.set_latency(Duration::from_millis(20));
    let sold_out_at: Arc<Mutex<Option<tokio::time::Instant>>> = Arc::default();
    let bought = Arc::new(AtomicU64::new(0));
    {
        let (gate, sold_out_at, bought) = (gate.clone(), sold_out_at.clone(), bought.clone());
        receiver.set_hook(Arc::new(move |_| {
            let (gate, sold_out_at, bought) = (gate.clone(), sold_out_at.clone(), bought.clone());
            Box::pin(async move {
                if rand::rng().random_bool(0.5)
                    && let Some(hold) = gate.try_take(product, 1)
                {
                    hold.commit();
                    bought.fetch_add(1, Ordering::Relaxed);
                    if gate.level(product).is_sold_out() {
                        *sold_out_at.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some(tokio::time::Instant::now());
                    }
                }
            })
        }));
    }
    let (channel, notifier) = watched_engine(&store, &gate, product, &receiver.url())?;
    let (round, took) = run_round(&store, &gate, &notifier, product).await?;
    let at = sold_out_at
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .context("never sold out")?;
    let arrived_after = receiver.arrivals().iter().filter(|a| a.at > at).count();
    println!(
        "P5 status {} in {:.2} s: bought {}, starts {}, starts after stock reached 0: {}, notified {}, arrived after the sell-out (in flight before it) {}",
        round.status.as_str(),
        took,
        bought.load(Ordering::Relaxed),
        channel.starts.load(Ordering::Relaxed),
        channel.late.load(Ordering::Relaxed),
        round.notified_count,
        arrived_after
    );
    Ok(())
}

/// P6: latency of the restock call with a 1,000,000-person line.
async fn p6(db: &str) -> anyhow::Result<()> {
    let mut settings = Settings::for_database(db);
    settings.jwt_secret = Some(SECRET.into());
    let (state, addr, shutdown) = serve(settings).await?;
    let product = product_with_line(&state.store, 0, 1_000_000).await?;
    let client = reqwest::Client::new();
    let token = admin_token()?;
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let resp = client
            .post(format!("{addr}/products/{product}/notifications/re-stock"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "quantity": 1 }))
            .send()
            .await?;
        latencies.push(started.elapsed());
        anyhow::ensure!(resp.status() == 202, "restock answered {}", resp.status());
        let round: serde_json::Value = resp.json().await?;
        // Sell the unit so the round ends, then go again.
        if let Some(hold) = state.gate.try_take(product, 1) {
            hold.commit();
        }
        let n = round["round"].as_i64().context("round")?;
        state.notifier.settle(product, n).await?;
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "P6 restock with a 1,000,000-person line, {} calls: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3)
    );
    shutdown.cancel();
    Ok(())
}
