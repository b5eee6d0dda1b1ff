//! The draw worker: one step runs every due draw (each is claimed in the database, so it
//! runs once across instances), offers returned units down the waitlists, and delivers the
//! winners' notifications in rank order (`draw_won.rs`).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::engine::Notifier;
use crate::domain::draws::{DrawOutcome, Win};
use crate::store::StoreResult;
use crate::telemetry::metrics;
use crate::ticks::Ticks;

/// How often the worker looks for due draws, returned units and undelivered wins.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// How long the instance that placed a win holds its notification before another instance
/// may send it (one that died mid-way).
pub const NOTICE_LEASE: Duration = Duration::from_secs(300);

/// Undelivered wins picked up per step.
const RECOVER_BATCH: i64 = 100;

/// What one step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOutcome {
    /// Draws run here.
    pub draws: usize,
    /// Orders placed (draw winners and waitlist promotions).
    pub wins: usize,
    /// Win notifications delivered.
    pub notified: usize,
}

impl Notifier {
    fn notice_lease(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner().now()
            + chrono::Duration::from_std(NOTICE_LEASE).unwrap_or(chrono::Duration::minutes(5))
    }

    /// One step: due draws, then waitlists with free units, then wins nobody delivered.
    /// Steps of one process take turns, so when one returns, everything due before it
    /// started was handled.
    pub async fn draw_step(&self) -> StoreResult<StepOutcome> {
        let inner = self.inner();
        let _turn = inner.draw_turn.lock().await;
        let store = &inner.parts.store;
        let mut out = StepOutcome::default();
        for product in store.due_draws(inner.now()).await? {
            let Some(drawn) = store
                .run_draw(product, inner.now(), self.notice_lease())
                .await?
            else {
                continue;
            };
            out.draws += 1;
            metrics::draw_ran();
            tracing::info!(%product, winners = drawn.wins.len(), units = drawn.units, "ran a draw");
            out.wins += drawn.wins.len();
            out.notified += self.settle_wins(drawn).await;
        }
        for product in store.waitlists_to_offer().await? {
            let promoted = store
                .promote_waitlist(product, inner.now(), self.notice_lease())
                .await?;
            if !promoted.wins.is_empty() {
                tracing::info!(%product, winners = promoted.wins.len(), "offered returned units down the waitlist");
            }
            out.wins += promoted.wins.len();
            out.notified += self.settle_wins(promoted).await;
        }
        for win in store.unnotified_wins(inner.now(), RECOVER_BATCH).await? {
            if store
                .claim_win_notice(&win, inner.now(), self.notice_lease())
                .await?
                && self.notify_win(&win).await
            {
                out.notified += 1;
            }
        }
        Ok(out)
    }

    /// After a committed draw or promotion: the gate gives up the winners' units, then each
    /// winner is notified in rank order. Answers how many notifications were delivered.
    async fn settle_wins(&self, done: DrawOutcome) -> usize {
        if let Some(first) = done.wins.first() {
            self.inner()
                .parts
                .gate
                .taken(first.product_id, done.units, done.stock_version)
                .await;
        }
        let mut delivered = 0;
        for win in &done.wins {
            metrics::order("draw_won");
            if self.notify_win(win).await {
                delivered += 1;
            }
        }
        delivered
    }

    /// Delivers one win's notification and records it; false when it failed (its lease
    /// lapses and a later step tries again).
    async fn notify_win(&self, win: &Win) -> bool {
        match self.deliver_win(win).await {
            Ok(()) => {
                if let Err(e) = self
                    .inner()
                    .parts
                    .store
                    .win_notified(win, self.inner().now())
                    .await
                {
                    tracing::warn!(error = %e, product = %win.product_id, user = %win.user_id,
                        "Failed to record a delivered win notification");
                }
                true
            }
            Err(reason) => {
                tracing::warn!(product = %win.product_id, user = %win.user_id, %reason,
                    "Failed to notify a draw winner; a later step tries again");
                false
            }
        }
    }
}

/// The worker loop: a step at start and then about every [`INTERVAL`], until `shutdown`.
pub async fn run(notifier: Notifier, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = notifier.draw_step().await {
            tracing::warn!(error = %e, "Failed a draw step; retrying next tick");
        }
    }
}
