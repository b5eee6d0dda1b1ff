//! A claim round's run state (`ClaimRun`) and its alerts: each claim is made only once its
//! alert can go out (an in-flight permit, shared with every round of this instance, then a
//! slot of the global rate limit), so claims are made, and their alerts started, in line order
//! and at the rate limit, and a holder's time starts when they are told. The alert is sent
//! with `claim_expires_at`, and retried, on its own task, so a slow provider does not hold up
//! the alerts behind it.

use std::sync::{Arc, Mutex};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::claim::Claim;
use crate::domain::delivery::{DeliveryOutcome, Sender};
use crate::domain::round::Round;
use crate::notify::channel::{Notification, RestockAlert, SendError};
use crate::notify::deliveries::{Answer, attempt_of};
use crate::notify::parts::{Inner, lock};
use crate::notify::retry::retry_delay;

/// What the run's parts share.
pub(super) struct ClaimRun {
    pub inner: Arc<Inner>,
    pub round: Round,
    pub product_name: Arc<str>,
    /// Cancelled when the run must stop (failure or shutdown).
    pub stop: CancellationToken,
    /// The alerts being sent; the run ends once they have.
    pub sends: TaskTracker,
    /// The failure that ends the round, once an alert gave up.
    failed: Mutex<Option<String>>,
}

impl ClaimRun {
    /// The run of `round` (of the product named `product_name`), stopped with the engine.
    pub fn new(inner: &Arc<Inner>, round: Round, product_name: &str) -> Self {
        Self {
            inner: inner.clone(),
            product_name: Arc::from(product_name),
            stop: inner.shutdown.child_token(),
            sends: TaskTracker::new(),
            failed: Mutex::new(None),
            round,
        }
    }

    /// Ends the round with `why` (unless a failure is already known) and stops the run.
    pub fn fail(&self, why: String) {
        lock(&self.failed).get_or_insert(why);
        self.stop.cancel();
    }

    /// The failure that ends the round, if any.
    pub fn failure(&self) -> Option<String> {
        lock(&self.failed).clone()
    }
}

/// Waits until one more alert may start: an in-flight permit, then a slot of the global rate
/// limit. `previous` is the slot of the alert before while the alerts go out back to back
/// (None after a wait for anything else); it is moved on to this one. None when the run
/// stops first.
pub(super) async fn ready(
    run: &ClaimRun,
    previous: &mut Option<Instant>,
) -> Option<OwnedSemaphorePermit> {
    let permit = tokio::select! {
        biased;
        () = run.stop.cancelled() => return None,
        permit = run.inner.permits.clone().acquire_owned() => permit.ok()?,
    };
    tokio::select! {
        biased;
        () = run.stop.cancelled() => return None,
        slot = run.inner.parts.limiter.acquire(*previous) => *previous = Some(slot),
    }
    Some(permit)
}

/// Starts a claim's alert on the run's task set: counted as started here, in claim order,
/// then sent and retried until delivered or given up; the permit goes back when it ends.
pub(super) fn start(run: &Arc<ClaimRun>, claim: Claim, permit: OwnedSemaphorePermit) {
    run.inner
        .parts
        .events
        .started(claim.product_id, claim.round);
    let task = run.clone();
    run.sends.spawn(async move {
        send(&task, &claim).await;
        drop(permit);
    });
}

/// A claim's alert as it goes out now.
fn alert_of(run: &ClaimRun, claim: &Claim) -> Notification {
    Notification::Restock(RestockAlert {
        product_id: claim.product_id,
        round: claim.round,
        user_id: claim.holder.user_id,
        position: claim.holder.position,
        product_name: run.product_name.clone(),
        sent_at: run.inner.now(),
        claim_expires_at: Some(claim.state.expires_at),
    })
}

/// Sends a claim's alert, retried as restock alerts are retried, each attempt recorded in
/// the delivery log. When it gives up, the round ends `CANCELED_BY_ERROR` (the claim stays
/// open, and a resumed round sends its alert again). An alert whose claim has expired is
/// never sent: it is logged `expired`, as the claim's unit has passed on.
async fn send(run: &ClaimRun, claim: &Claim) {
    let inner = &run.inner;
    let mut retries = 0;
    loop {
        let alert = alert_of(run, claim);
        if alert.sent_at() >= claim.state.expires_at {
            let mut expired = attempt_of(&alert, answer(&Ok(None), false), alert.sent_at());
            expired.outcome = DeliveryOutcome::Expired;
            inner.deliveries.record(expired).await;
            return;
        }
        let sent = inner.parts.channel.send(&alert).await;
        let answered_at = inner.now();
        let failure = match &sent {
            Ok(_) => {
                delivered(run, claim, alert.sent_at()).await;
                let record = attempt_of(&alert, answer(&sent, false), answered_at);
                inner.deliveries.record(record).await;
                return;
            }
            Err(failure) => failure.clone(),
        };
        inner.parts.events.failed(claim.product_id);
        let delay = retry_delay(&inner.config, &mut retries, failure);
        let record = attempt_of(&alert, answer(&sent, delay.is_ok()), answered_at);
        inner.deliveries.record(record).await;
        let delay = match delay {
            Ok(delay) => delay,
            Err(reason) => {
                run.fail(format!("notifying user {}: {reason}", claim.holder.user_id));
                return;
            }
        };
        tokio::select! {
            biased;
            () = run.stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        tokio::select! {
            biased;
            () = run.stop.cancelled() => return,
            _ = inner.parts.limiter.acquire(None) => {}
        }
        inner.parts.events.started(claim.product_id, claim.round);
    }
}

fn answer(sent: &Result<Option<u16>, SendError>, will_retry: bool) -> Answer<'_> {
    Answer {
        sent,
        will_retry,
        sender: Sender::Engine,
    }
}

/// A delivered alert: counted, and recorded in the round's history.
async fn delivered(run: &ClaimRun, claim: &Claim, sent_at: chrono::DateTime<chrono::Utc>) {
    let inner = &run.inner;
    let product = claim.product_id;
    let stock = inner.parts.gate.level(product).available;
    inner
        .parts
        .events
        .succeeded(product, claim.round, stock, sent_at);
    if let Err(e) = inner.parts.store.claim_notified(claim, sent_at).await {
        // The next run sends it again: at least once, as every alert.
        tracing::warn!(%product, round = claim.round, error = %e, "recording a claim's alert failed");
    }
}
