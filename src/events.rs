//! Live round progress for operators: the event type and the broadcast hub the engine
//! publishes to and the dashboard's event stream reads from.
//!
//! The hub keeps a little state per running round (counts, the last second's starts, the
//! busiest second) so an event carries the figures a screen needs without a database read.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::domain::claim::{AlertMode, ClaimCounts};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::round::{Round, RoundStatus};
use crate::telemetry::metrics;

/// How many events a slow reader may fall behind before it skips ahead.
const BUFFER: usize = 1024;
/// Least time between two progress events of one round (the checkpoint and the end always go).
const THROTTLE: Duration = Duration::from_millis(200);

/// One round's progress, as the event stream sends it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundProgress {
    /// The product.
    pub product_id: ProductId,
    /// The round number.
    pub round: i64,
    /// `IN_PROGRESS` until it ends, then its final status.
    pub status: RoundStatus,
    /// Users notified so far in this round (from the round's stored count on).
    pub notified_count: i64,
    /// Notification requests started by this run, retries included.
    pub started_count: i64,
    /// The end of the unbroken run of successes at the last checkpoint.
    pub last_sent_user_id: Option<UserId>,
    /// Units free to order now.
    pub stock: i64,
    /// Requests started in the last second.
    pub rate_per_sec: f64,
    /// The most requests started within one second of this run so far.
    pub busiest_second: i64,
    /// The failure, for CANCELED_BY_ERROR.
    pub error: Option<String>,
    /// What the round sends.
    pub alert_mode: AlertMode,
    /// The round's claims by status (all 0 in broadcast mode).
    pub claims: ClaimCounts,
    /// When this was measured.
    pub at: DateTime<Utc>,
}

/// What the hub tracks of a round running here.
#[derive(Debug)]
struct Tracked {
    event: RoundProgress,
    /// Start instants within the last second; its length is the current rate.
    window: VecDeque<Instant>,
    last_sent: Option<Instant>,
}

/// The broadcast hub; one per app, shared through `AppState` and the engine.
#[derive(Debug)]
pub struct EventHub {
    tx: broadcast::Sender<RoundProgress>,
    /// Rounds running here; guarded by its lock (the engine's tasks update it concurrently).
    rounds: Mutex<HashMap<(ProductId, i64), Tracked>>,
    /// Fires when the server stops, so open event streams end and shutdown is not held up.
    closed: CancellationToken,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new()
    }
}

impl EventHub {
    /// A hub with no listeners.
    pub fn new() -> Self {
        Self {
            tx: broadcast::Sender::new(BUFFER),
            rounds: Mutex::new(HashMap::new()),
            closed: CancellationToken::new(),
        }
    }

    /// Follows every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RoundProgress> {
        self.tx.subscribe()
    }

    /// Ends every open stream (the server is stopping).
    pub fn close(&self) {
        self.closed.cancel();
    }

    /// Resolves once the hub is closed.
    pub fn closed(&self) -> CancellationToken {
        self.closed.clone()
    }

    fn rounds(&self) -> MutexGuard<'_, HashMap<(ProductId, i64), Tracked>> {
        match self.rounds.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn send(&self, event: RoundProgress) {
        metrics::send_rate(event.rate_per_sec);
        // No receiver is not an error: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// A run of `round` starts here (opened, resumed or recovered).
    pub fn begin(&self, round: &Round, stock: i64, at: DateTime<Utc>) {
        metrics::round_entered(RoundStatus::InProgress, None);
        metrics::notifications_registered(round.product_id);
        let event = RoundProgress {
            product_id: round.product_id,
            round: round.round,
            status: RoundStatus::InProgress,
            notified_count: round.notified_count,
            started_count: 0,
            last_sent_user_id: round.last_sent_user_id,
            stock,
            rate_per_sec: 0.0,
            busiest_second: 0,
            error: None,
            alert_mode: round.alert_mode,
            claims: round.claims,
            at,
        };
        self.rounds().insert(
            (round.product_id, round.round),
            Tracked {
                event: event.clone(),
                window: VecDeque::new(),
                last_sent: None,
            },
        );
        self.send(event);
    }

    /// The progress of a round running here as its next event would carry it (the engine
    /// counts a start here right before it starts), None when no run of it is tracked.
    pub fn progress(&self, product: ProductId, round: i64) -> Option<RoundProgress> {
        self.rounds()
            .get(&(product, round))
            .map(|t| t.event.clone())
    }

    /// A notification request of the round starts now.
    pub fn started(&self, product: ProductId, round: i64) {
        metrics::notification_started(product);
        let now = Instant::now();
        let mut rounds = self.rounds();
        if let Some(t) = rounds.get_mut(&(product, round)) {
            t.window.push_back(now);
            prune(&mut t.window, now);
            t.event.started_count += 1;
            t.event.busiest_second = t.event.busiest_second.max(t.window.len() as i64);
        }
    }

    /// A notification of the round succeeded; `stock` is the gate's level now.
    pub fn succeeded(&self, product: ProductId, round: i64, stock: i64, at: DateTime<Utc>) {
        metrics::notification_succeeded(product);
        let now = Instant::now();
        let event = {
            let mut rounds = self.rounds();
            let Some(t) = rounds.get_mut(&(product, round)) else {
                return;
            };
            t.event.notified_count += 1;
            t.event.stock = stock;
            if t.last_sent.is_some_and(|last| now - last < THROTTLE) {
                return;
            }
            t.last_sent = Some(now);
            Some(measure(t, now, at))
        };
        if let Some(e) = event {
            self.send(e);
        }
    }

    /// A notification request of the round failed (it may be retried).
    pub fn failed(&self, product: ProductId) {
        metrics::notification_failed(product);
    }

    /// The round's progress was written: the checkpoint moved to `last_sent_user_id`.
    pub fn checkpoint(
        &self,
        product: ProductId,
        round: i64,
        last_sent_user_id: Option<UserId>,
        stock: i64,
        at: DateTime<Utc>,
    ) {
        self.update(product, round, at, |e| {
            e.last_sent_user_id = last_sent_user_id;
            e.stock = stock;
            true
        });
    }

    /// A claim round's claims changed (made, used, expired, released): sent at once.
    pub fn claims(
        &self,
        product: ProductId,
        round: i64,
        claims: ClaimCounts,
        stock: i64,
        at: DateTime<Utc>,
    ) {
        self.update(product, round, at, |e| {
            let changed = e.claims != claims || e.stock != stock;
            e.claims = claims;
            e.stock = stock;
            changed
        });
    }

    /// Changes what the hub tracks of a running round and sends it, unless `change` says
    /// nothing changed.
    fn update(
        &self,
        product: ProductId,
        round: i64,
        at: DateTime<Utc>,
        change: impl FnOnce(&mut RoundProgress) -> bool,
    ) {
        let event = {
            let mut rounds = self.rounds();
            let Some(t) = rounds.get_mut(&(product, round)) else {
                return;
            };
            if !change(&mut t.event) {
                return;
            }
            measure(t, Instant::now(), at)
        };
        self.send(event);
    }

    /// Drops what the hub tracks of a run that ended without a final status (paused by a
    /// shutdown, or taken over by another instance).
    pub fn forget(&self, product: ProductId, round: i64) {
        self.rounds().remove(&(product, round));
    }

    /// The run ended with a final status.
    pub fn finished(&self, round: &Round, stock: i64, at: DateTime<Utc>) {
        let tracked = self.rounds().remove(&(round.product_id, round.round));
        if round.status != RoundStatus::InProgress {
            metrics::round_entered(round.status, Some(RoundStatus::InProgress));
        }
        let (started_count, busiest_second) = tracked
            .map(|t| (t.event.started_count, t.event.busiest_second))
            .unwrap_or_default();
        self.send(RoundProgress {
            product_id: round.product_id,
            round: round.round,
            status: round.status,
            notified_count: round.notified_count,
            started_count,
            last_sent_user_id: round.last_sent_user_id,
            stock,
            rate_per_sec: 0.0,
            busiest_second,
            error: round.error.clone(),
            alert_mode: round.alert_mode,
            claims: round.claims,
            at,
        });
    }
}

fn prune(window: &mut VecDeque<Instant>, now: Instant) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        window.pop_front();
    }
}

fn measure(t: &mut Tracked, now: Instant, at: DateTime<Utc>) -> RoundProgress {
    prune(&mut t.window, now);
    t.event.rate_per_sec = t.window.len() as f64;
    t.event.at = at;
    t.event.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(status: RoundStatus, notified: i64) -> Round {
        Round {
            product_id: ProductId::from_db(3),
            round: 2,
            notified_count: notified,
            ..Round::sample(status, 0)
        }
    }

    #[test]
    fn a_run_reports_counts_rate_and_its_final_status() {
        let hub = EventHub::new();
        let mut rx = hub.subscribe();
        let p = ProductId::from_db(3);
        hub.begin(&round(RoundStatus::InProgress, 10), 5, Utc::now());
        assert_eq!(rx.try_recv().unwrap().notified_count, 10);
        for _ in 0..4 {
            hub.started(p, 2);
        }
        hub.succeeded(p, 2, 4, Utc::now());
        let e = rx.try_recv().unwrap();
        assert_eq!((e.notified_count, e.started_count, e.stock), (11, 4, 4));
        assert_eq!(e.rate_per_sec, 4.0);
        // Within the throttle, a success updates the counts but sends nothing.
        hub.succeeded(p, 2, 3, Utc::now());
        assert!(rx.try_recv().is_err());
        hub.checkpoint(p, 2, Some(UserId::from_db(12)), 3, Utc::now());
        let e = rx.try_recv().unwrap();
        assert_eq!(e.notified_count, 12);
        assert_eq!(e.last_sent_user_id, Some(UserId::from_db(12)));
        hub.finished(&round(RoundStatus::CanceledBySoldOut, 12), 0, Utc::now());
        let e = rx.try_recv().unwrap();
        assert_eq!(e.status, RoundStatus::CanceledBySoldOut);
        assert_eq!((e.started_count, e.busiest_second), (4, 4));
        assert!(hub.rounds().is_empty());
    }
}
