//! The simulated buyer population: a fixed share of the line orders a random while after its
//! alert, the rest never does. Who and how long follow a seeded hash of the user id, so both
//! modes of one run see the same people behave the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

use dropline::auth::{Principal, TokenKeys};
use dropline::domain::ids::UserId;
use dropline::tools::mock_receiver::{Arrival, Hook};

/// Who orders, and after how long.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    pub seed: u64,
    /// Percentage of those notified who order.
    pub share: u64,
    /// The delay after the alert, drawn evenly from this range (ms).
    pub min_ms: u64,
    pub max_ms: u64,
}

/// splitmix64: a well-spread hash of one word.
fn hash(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Population {
    /// How long after the alert this user orders; None for one who never does.
    pub fn delay(&self, user: i64) -> Option<Duration> {
        let h = hash(self.seed ^ user as u64);
        if h % 100 >= self.share {
            return None;
        }
        let span = self.max_ms.saturating_sub(self.min_ms) + 1;
        Some(Duration::from_millis(self.min_ms + hash(h) % span))
    }
}

/// How one product's buyers fared.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Orders placed (201).
    pub placed: u64,
    /// Orders turned away sold out (409), in claim mode those whose claim had run out.
    pub turned_away: u64,
    /// Any other answer.
    pub other: u64,
    /// From the restock call until the last unit was in an order.
    pub sold_in: Option<Duration>,
}

struct Inner {
    http: reqwest::Client,
    keys: TokenKeys,
    path: String,
    product: i64,
    units: u64,
    pop: Population,
    /// Orders under way; waited for before the round is read.
    tasks: TaskTracker,
    placed: AtomicU64,
    turned_away: AtomicU64,
    other: AtomicU64,
    /// When the restock call went out; set before it.
    started: Mutex<Option<Instant>>,
    sold_in: Mutex<Option<Duration>>,
}

/// The buyers of one product.
#[derive(Clone)]
pub struct Buyers(Arc<Inner>);

impl Buyers {
    pub fn new(base: &str, keys: TokenKeys, product: i64, units: u64, pop: Population) -> Self {
        Self(Arc::new(Inner {
            http: reqwest::Client::new(),
            keys,
            path: format!("{base}/products/{product}/orders"),
            product,
            units,
            pop,
            tasks: TaskTracker::new(),
            placed: AtomicU64::new(0),
            turned_away: AtomicU64::new(0),
            other: AtomicU64::new(0),
            started: Mutex::new(None),
            sold_in: Mutex::new(None),
        }))
    }

    /// Starts the clock for "sold in"; called just before the restock.
    pub fn start_clock(&self) {
        *self.0.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// The receiver hook: a notified buyer who orders starts waiting; the webhook answers at
    /// once.
    pub fn hook(&self) -> Hook {
        let me = self.clone();
        Arc::new(move |arrival: Arrival| {
            if arrival.notification.product_id == me.0.product
                && let Some(delay) = me.0.pop.delay(arrival.notification.user_id)
            {
                let buyer = me.clone();
                me.0.tasks
                    .spawn(async move { buyer.buy(arrival.notification.user_id, delay).await });
            }
            Box::pin(async {})
        })
    }

    async fn buy(&self, user: i64, delay: Duration) {
        tokio::time::sleep(delay).await;
        let token = self
            .0
            .keys
            .mint(
                Principal::User(UserId::from_db(user)),
                Duration::from_secs(3600),
            )
            .expect("mint a buyer's token");
        let answer = self
            .0
            .http
            .post(&self.0.path)
            .bearer_auth(token)
            .send()
            .await;
        let status = answer.map(|r| r.status().as_u16());
        match status {
            Ok(201) => {
                let placed = self.0.placed.fetch_add(1, Ordering::Relaxed) + 1;
                if placed == self.0.units {
                    let started = *self.0.started.lock().unwrap_or_else(|p| p.into_inner());
                    *self.0.sold_in.lock().unwrap_or_else(|p| p.into_inner()) =
                        started.map(|s| s.elapsed());
                }
            }
            Ok(409) => {
                self.0.turned_away.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.0.other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Waits for every order under way and answers the counts.
    pub async fn settle(&self) -> Counts {
        self.0.tasks.close();
        self.0.tasks.wait().await;
        Counts {
            placed: self.0.placed.load(Ordering::Relaxed),
            turned_away: self.0.turned_away.load(Ordering::Relaxed),
            other: self.0.other.load(Ordering::Relaxed),
            sold_in: *self.0.sold_in.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }
}
