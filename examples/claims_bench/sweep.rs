//! The claim-expiry sweep: many open claims written straight into the table, the clock moved
//! past them, and `shop::claims::expire_all_due` timed until none is left.

use anyhow::Context;
use chrono::Utc;
use sqlx::{Connection, QueryBuilder};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

use dropline::domain::clock::Clock;
use dropline::domain::ids::ProductId;
use dropline::domain::product::NewProduct;
use dropline::gate::StockGate;
use dropline::shop::Shop;
use dropline::store::Store;

use super::brand::{camping_brand, plain_sale};

/// How long the written claims last: they expire over this span, spread evenly.
const CLAIM_MS: i64 = 5_000;

/// A sold-out product whose `n` units are all set aside by open claims of round 1 (users 1
/// to n), expiring over the next [`CLAIM_MS`].
async fn product_with_claims(
    store: &Arc<dyn Store>,
    url: &str,
    n: i64,
) -> anyhow::Result<ProductId> {
    let now = Utc::now();
    let brand = camping_brand(store.as_ref(), now).await?;
    let sale = plain_sale();
    let product = store
        .create_product(
            &NewProduct::parse("Chair One claims", &[brand.id.get()], 0, sale)?,
            now,
        )
        .await?;
    let id = product.id.get();
    let ms = now.timestamp_millis();
    macro_rules! load {
        ($conn:expr) => {{
            let mut conn = $conn;
            let mut tx = conn.begin().await?;
            for start in (1..=n).step_by(1000) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO claim (product_id, round, user_id, position, line_id, status, \
                     created_at, expires_at, notified_at, updated_at) ",
                );
                q.push_values(start..(start + 1000).min(n + 1), |mut b, user| {
                    let made = ms + (user * CLAIM_MS) / n.max(1);
                    b.push_bind(id)
                        .push_bind(1_i64)
                        .push_bind(user)
                        .push_bind(user)
                        .push_bind(user)
                        .push_bind("OPEN")
                        .push_bind(made)
                        .push_bind(made + CLAIM_MS)
                        .push_bind(made)
                        .push_bind(made);
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
    Ok(product.id)
}

/// One timed sweep of `n` due claims; answers expiries per second.
pub async fn sweep_once(store: &Arc<dyn Store>, url: &str, n: i64) -> anyhow::Result<f64> {
    let written = Instant::now();
    let product = product_with_claims(store, url, n).await?;
    let loaded_in = written.elapsed();
    let gate = Arc::new(StockGate::new());
    gate.load(product, 0);
    let shop = Shop {
        store: store.clone(),
        gate: gate.clone(),
        clock: Clock::default(),
        tasks: TaskTracker::new(),
        key_locks: Default::default(),
        live_rooms: Default::default(),
    };
    // Past every claim written: all of them are due at once.
    shop.clock
        .advance(Duration::from_millis(2 * CLAIM_MS as u64 + 1000));
    let started = Instant::now();
    let expired = dropline::shop::claims::expire_all_due(&shop).await?;
    let secs = started.elapsed().as_secs_f64();
    let stock = store
        .get_product(product)
        .await?
        .context("the product disappeared")?
        .stock;
    anyhow::ensure!(
        expired as i64 == n && stock == n && gate.level(product).available == n,
        "expired {expired} of {n}; stock {stock}, gate {}",
        gate.level(product).available
    );
    let rate = n as f64 / secs;
    println!(
        "  sweep: {n} due claims expired in {secs:.3} s: {rate:.0}/s (claims written in {:.1} s, not timed); stock back to {stock}",
        loaded_in.as_secs_f64()
    );
    Ok(rate)
}
