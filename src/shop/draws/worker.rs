//! The draw worker: one step runs every due draw (each is claimed in the database, so it
//! runs once across instances), offers returned units down the waitlists, and delivers the
//! winners' notifications in rank order through the engine (`Notifier::deliver_win`).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::domain::draws::{DrawOutcome, Win};
use crate::notify::Notifier;
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

/// Until when a win placed now is held by this instance for its notification.
fn notice_lease(notifier: &Notifier) -> chrono::DateTime<chrono::Utc> {
    notifier.now()
        + chrono::Duration::from_std(NOTICE_LEASE).unwrap_or(chrono::Duration::minutes(5))
}

/// One step: due draws, then waitlists with free units, then wins nobody delivered.
/// Steps of one process take turns, so when one returns, everything due before it
/// started was handled.
pub async fn step(notifier: &Notifier) -> StoreResult<StepOutcome> {
    let _turn = notifier.draw_turn().await;
    let store = notifier.store();
    let mut out = StepOutcome::default();
    for product in store.due_draws(notifier.now()).await? {
        let Some(drawn) = store
            .run_draw(product, notifier.now(), notice_lease(notifier))
            .await?
        else {
            continue;
        };
        out.draws += 1;
        metrics::draw_ran();
        tracing::info!(%product, winners = drawn.wins.len(), units = drawn.units, "ran a draw");
        out.wins += drawn.wins.len();
        out.notified += settle_wins(notifier, drawn).await;
    }
    for product in store.waitlists_to_offer().await? {
        let promoted = store
            .promote_waitlist(product, notifier.now(), notice_lease(notifier))
            .await?;
        if !promoted.wins.is_empty() {
            tracing::info!(%product, winners = promoted.wins.len(), "offered returned units down the waitlist");
        }
        out.wins += promoted.wins.len();
        out.notified += settle_wins(notifier, promoted).await;
    }
    for win in store.unnotified_wins(notifier.now(), RECOVER_BATCH).await? {
        if store
            .claim_win_notice(&win, notifier.now(), notice_lease(notifier))
            .await?
            && notify_win(notifier, &win).await
        {
            out.notified += 1;
        }
    }
    Ok(out)
}

/// After a committed draw or promotion: the gate gives up the winners' units, then each
/// winner is notified in rank order. Answers how many notifications were delivered.
async fn settle_wins(notifier: &Notifier, done: DrawOutcome) -> usize {
    if let Some(first) = done.wins.first() {
        notifier
            .gate()
            .taken(first.product_id, done.units, done.stock_version)
            .await;
    }
    let mut delivered = 0;
    for win in &done.wins {
        metrics::order("draw_won");
        if notify_win(notifier, win).await {
            delivered += 1;
        }
    }
    delivered
}

/// Delivers one win's notification and records it; false when it failed (its lease
/// lapses and a later step tries again).
async fn notify_win(notifier: &Notifier, win: &Win) -> bool {
    match notifier.deliver_win(win).await {
        Ok(()) => {
            if let Err(e) = notifier.store().win_notified(win, notifier.now()).await {
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

/// The worker loop: a step at start and then about every [`INTERVAL`], until `shutdown`.
pub async fn run(notifier: Notifier, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = step(&notifier).await {
            tracing::warn!(error = %e, "Failed a draw step; retrying next tick");
        }
    }
}
