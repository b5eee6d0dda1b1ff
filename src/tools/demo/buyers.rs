//! The demo's simulated buyers: some notified people order through the orders endpoint a
//! moment after their notification arrives; the others never do.

use futures::FutureExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::task::TaskTracker;

use super::client::Client;
use crate::auth::{Principal, TokenKeys};
use crate::domain::ids::UserId;
use crate::tools::mock_receiver::{Arrival, Hook};

/// How the buyers' orders went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderCounts {
    /// Orders placed (201, stock reserved).
    pub placed: u64,
    /// Orders turned away because the stock was gone (409 sold_out).
    pub sold_out: u64,
    /// Any other answer.
    pub other: u64,
}

/// Who among the notified orders, and how long after the alert. Both follow a fixed
/// scramble of the user id, so the same people behave the same way on every run and in
/// every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// One in this many, 30 to 280 ms after the alert (the broadcast demo).
    Every(u64),
    /// This percentage, 0.2 to 2 s after the alert (the claim demo and its comparison).
    Share(u64),
}

impl Rule {
    fn buys(self, m: u64) -> bool {
        match self {
            Self::Every(every) => m.is_multiple_of(every.max(1)),
            Self::Share(percent) => m % 100 < percent,
        }
    }

    fn delay(self, m: u64) -> Duration {
        match self {
            Self::Every(_) => Duration::from_millis(30 + m % 250),
            Self::Share(_) => Duration::from_millis(200 + (m / 100) % 1800),
        }
    }
}

struct Inner {
    client: Arc<Client>,
    keys: TokenKeys,
    product: i64,
    rule: Rule,
    /// Orders under way; waited for before the summary.
    tasks: TaskTracker,
    placed: AtomicU64,
    sold_out: AtomicU64,
    other: AtomicU64,
}

/// The buyers of one product.
#[derive(Clone)]
pub(crate) struct Buyers(Arc<Inner>);

/// A fixed scramble of a user id, so who buys and how fast is the same on every run.
fn mix(user: i64) -> u64 {
    (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32
}

impl Buyers {
    pub(crate) fn new(client: Arc<Client>, keys: TokenKeys, product: i64, rule: Rule) -> Self {
        Self(Arc::new(Inner {
            client,
            keys,
            product,
            rule,
            tasks: TaskTracker::new(),
            placed: AtomicU64::new(0),
            sold_out: AtomicU64::new(0),
            other: AtomicU64::new(0),
        }))
    }

    /// The receiver hook: a notified buyer starts ordering and the webhook answers at once.
    pub(crate) fn hook(&self) -> Hook {
        let me = self.clone();
        Arc::new(move |arrival: Arrival| {
            let m = mix(arrival.notification.user_id);
            if arrival.notification.product_id == me.0.product && me.0.rule.buys(m) {
                let buyer = me.clone();
                me.0.tasks
                    .spawn(async move { buyer.buy(arrival.notification.user_id, m).await });
            }
            async {}.boxed()
        })
    }

    async fn buy(&self, user: i64, m: u64) {
        // People take a moment to open the app and tap "buy".
        tokio::time::sleep(self.0.rule.delay(m)).await;
        let Ok(token) = self.0.keys.mint(
            Principal::User(UserId::from_db(user)),
            Duration::from_secs(600),
        ) else {
            self.0.other.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let path = format!("/products/{}/orders", self.0.product);
        let answer = self
            .0
            .client
            .send(reqwest::Method::POST, &path, &token, None)
            .await;
        let counter = match answer {
            Ok((s, _)) if s == reqwest::StatusCode::CREATED => &self.0.placed,
            Ok((_, body)) if body["error"]["code"] == "sold_out" => &self.0.sold_out,
            _ => &self.0.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for every order under way.
    pub(crate) async fn settle(&self) {
        self.0.tasks.close();
        self.0.tasks.wait().await;
    }

    /// The outcome so far.
    pub(crate) fn counts(&self) -> OrderCounts {
        OrderCounts {
            placed: self.0.placed.load(Ordering::Relaxed),
            sold_out: self.0.sold_out.load(Ordering::Relaxed),
            other: self.0.other.load(Ordering::Relaxed),
        }
    }
}
