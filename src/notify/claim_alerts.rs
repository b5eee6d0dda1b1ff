//! A claim round's alerts: started in the order the claims were made, each after a slot of
//! the global rate limit and with one of the engine's in-flight permits, with
//! `claim_expires_at`; an alert is sent (and retried) on its own task, so a slow provider
//! does not hold up the alerts behind it.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::channel::{Notification, RestockAlert, SendError};
use super::claims::ClaimRun;
use super::deliver::retry_delay;
use crate::domain::claim::Claim;

/// Starts the claims' alerts in the order they come: each takes an in-flight permit (shared
/// with every round of this instance), then a slot of the global rate limit, then goes out on
/// its own task, which keeps the permit until the alert is delivered or given up.
pub(super) async fn send_alerts(run: Arc<ClaimRun>, mut queue: mpsc::UnboundedReceiver<Claim>) {
    let sends = tokio_util::task::TaskTracker::new();
    // The slot of the alert before, while the alerts go out back to back.
    let mut previous = None;
    loop {
        let claim = match queue.try_recv() {
            Ok(claim) => claim,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                // Waiting for the next claim: the next alert does not go straight on.
                previous = None;
                match queue.recv().await {
                    Some(claim) => claim,
                    None => break,
                }
            }
        };
        let permit = tokio::select! {
            biased;
            () = run.stop.cancelled() => break,
            permit = run.inner.permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The engine is gone.
                Err(_) => break,
            },
        };
        tokio::select! {
            biased;
            () = run.stop.cancelled() => break,
            slot = run.inner.parts.limiter.acquire(previous) => previous = Some(slot),
        }
        // Counted as started here, in claim order, before the task runs.
        run.inner
            .parts
            .events
            .started(claim.product_id, claim.round);
        let run = run.clone();
        sends.spawn(async move { deliver(&run, &claim, permit).await });
    }
    sends.close();
    sends.wait().await;
}

/// Sends one claim's alert, started already, and retries it until it is delivered or given
/// up; the permit goes back when it ends.
async fn deliver(run: &ClaimRun, claim: &Claim, permit: OwnedSemaphorePermit) {
    if let Err(failure) = attempt(run, claim).await {
        retry(run, claim, failure).await;
    }
    drop(permit);
}

/// One attempt at a claim's alert; a success is recorded in the round's history.
async fn attempt(run: &ClaimRun, claim: &Claim) -> Result<(), SendError> {
    let inner = &run.inner;
    let (product, number) = (claim.product_id, claim.round);
    let sent_at = inner.now();
    let alert = Notification::Restock(RestockAlert {
        product_id: product,
        round: number,
        user_id: claim.holder.user_id,
        position: claim.holder.position,
        product_name: run.product_name.clone(),
        sent_at,
        claim_expires_at: Some(claim.state.expires_at),
    });
    match inner.parts.channel.send(&alert).await {
        Ok(()) => {
            let stock = inner.parts.gate.level(product).available;
            inner
                .parts
                .events
                .succeeded(product, number, stock, sent_at);
            if let Err(e) = inner.parts.store.claim_notified(claim, sent_at).await {
                // The next run sends it again: at least once, as every alert.
                tracing::warn!(%product, round = number, error = %e, "recording a claim's alert failed");
            }
            Ok(())
        }
        Err(failure) => {
            inner.parts.events.failed(product);
            Err(failure)
        }
    }
}

/// Retries a claim's alert as restock alerts are retried; when it gives up, the round ends
/// `CANCELED_BY_ERROR` (the claim stays open, and a resumed round sends its alert again).
async fn retry(run: &ClaimRun, claim: &Claim, first: SendError) {
    let mut retries = 0;
    let mut failure = first;
    loop {
        let delay = match retry_delay(&run.inner.config, &mut retries, failure) {
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
            _ = run.inner.parts.limiter.acquire(None) => {}
        }
        run.inner
            .parts
            .events
            .started(claim.product_id, claim.round);
        match attempt(run, claim).await {
            Ok(()) => return,
            Err(f) => failure = f,
        }
    }
}
