//! Draw sales: the secret seed, and the draw worker. One step runs every due draw (each is
//! claimed in the database, so it runs once across instances), offers returned units down
//! the waitlists, and delivers the winners' notifications in rank order.

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::domain::draw::{DrawOutcome, Win, hex};
use crate::state::AppState;
use crate::store::StoreResult;

/// How often the worker looks for due draws, returned units and undelivered wins.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// How long the instance that placed a win holds its notification before another instance
/// may send it (one that died mid-way).
pub const NOTICE_LEASE: Duration = Duration::from_secs(300);

/// Undelivered wins picked up per step.
const RECOVER_BATCH: i64 = 100;

/// The OS random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random source failed: {0}")]
pub struct SeedError(String);

/// A fresh secret seed: 32 bytes from the OS, as 64 lowercase hex digits.
pub fn new_seed() -> Result<String, SeedError> {
    use rand::TryRngCore;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| SeedError(e.to_string()))?;
    Ok(hex(&bytes))
}

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

fn lease_until(state: &AppState) -> chrono::DateTime<chrono::Utc> {
    state.clock.now()
        + chrono::Duration::from_std(NOTICE_LEASE).unwrap_or(chrono::Duration::minutes(5))
}

/// One step: due draws, then waitlists with free units, then wins nobody delivered. Steps
/// of one process take turns, so when one returns, everything due before it was handled.
pub async fn step(state: &AppState) -> StoreResult<StepOutcome> {
    let _turn = state.draw_turn.lock().await;
    let mut out = StepOutcome::default();
    for product in state.store.due_draws(state.clock.now()).await? {
        let now = state.clock.now();
        let Some(drawn) = state
            .store
            .run_draw(product, now, lease_until(state))
            .await?
        else {
            continue;
        };
        out.draws += 1;
        crate::telemetry::metrics::draw_ran();
        tracing::info!(%product, winners = drawn.wins.len(), units = drawn.units, "ran a draw");
        out.wins += drawn.wins.len();
        out.notified += settle(state, drawn).await;
    }
    for product in state.store.waitlists_to_offer().await? {
        let now = state.clock.now();
        let promoted = state
            .store
            .promote_waitlist(product, now, lease_until(state))
            .await?;
        if !promoted.wins.is_empty() {
            tracing::info!(%product, winners = promoted.wins.len(), "offered returned units down the waitlist");
        }
        out.wins += promoted.wins.len();
        out.notified += settle(state, promoted).await;
    }
    for win in state
        .store
        .unnotified_wins(state.clock.now(), RECOVER_BATCH)
        .await?
    {
        let now = state.clock.now();
        if state
            .store
            .claim_win_notice(&win, now, lease_until(state))
            .await?
            && notify(state, &win).await
        {
            out.notified += 1;
        }
    }
    Ok(out)
}

/// After a committed draw or promotion: the gate gives up the winners' units, then each
/// winner is notified in rank order. Answers how many notifications were delivered.
async fn settle(state: &AppState, done: DrawOutcome) -> usize {
    if let Some(first) = done.wins.first() {
        state
            .gate
            .taken(first.product_id, done.units, done.stock_version)
            .await;
    }
    let mut delivered = 0;
    for win in &done.wins {
        crate::telemetry::metrics::order("draw_won");
        if notify(state, win).await {
            delivered += 1;
        }
    }
    delivered
}

/// Delivers one win's notification and records it; false when it failed (its lease lapses
/// and a later step tries again).
async fn notify(state: &AppState, win: &Win) -> bool {
    match state.notifier.deliver_win(win).await {
        Ok(()) => {
            if let Err(e) = state.store.win_notified(win, state.clock.now()).await {
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
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = step(&state).await {
            tracing::warn!(error = %e, "Failed a draw step; retrying next tick");
        }
    }
}
