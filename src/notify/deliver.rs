//! One notification's delivery: the stock and rate checks before every start, and retries.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};
use tokio::time::Instant;

use super::channel::{Notification, RestockAlert};
use super::deliveries::{Answer, attempt_of};
use super::retry::retry_delay;
use super::round::{Done, Ending, Item, Outcome, RoundCtx};
use crate::domain::delivery::Sender;
use crate::gate::StockLevel;

/// Whether a request may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Stock is free (and, from [`clear_to_start`], the limiter granted a slot): start at once.
    Go,
    /// The stock reached 0 for good.
    SoldOut,
    /// The round is stopping.
    Stopped,
}

/// The stock rule of every start: free units let it go; nothing free and nothing that could
/// come back, at a gate that is believed, is a sell-out; anything else (an order being
/// committed may still fail and give its units back, or a shared gate's Redis is gone, so
/// its 0 may be stale) is waited out.
fn verdict(ctx: &RoundCtx, level: &StockLevel) -> Option<Ready> {
    if level.available > 0 {
        Some(Ready::Go)
    } else if ctx.inner.parts.gate.sold_out(level) {
        Some(Ready::SoldOut)
    } else {
        None
    }
}

/// Waits until the product has free stock, or learns it is sold out; a wait clears `pace`
/// (the caller did not go straight on).
async fn wait_for_stock(
    ctx: &RoundCtx,
    gate: &mut watch::Receiver<StockLevel>,
    pace: &mut Option<Instant>,
) -> Ready {
    let mut trusted = ctx.inner.parts.gate.watch_trusted();
    loop {
        trusted.borrow_and_update();
        let level = *gate.borrow_and_update();
        if let Some(ready) = verdict(ctx, &level) {
            return ready;
        }
        *pace = None;
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            changed = gate.changed() => if changed.is_err() { return Ready::Stopped },
            changed = trusted.changed() => if changed.is_err() { return Ready::Stopped },
        }
    }
}

/// The check before every start, first ones and retries: free stock, then the limiter's
/// slot, then the stock once more right before the start (the slot may have taken a while;
/// with Redis that last reading is of the shared counter, not only of the mirror).
/// The start is counted while that last reading of the gate is held, so a take that empties
/// the gate comes either before the reading (and nothing starts) or after the start.
/// `pace` is the slot of the caller's previous start when it went straight on from it (see
/// [`Limiter::acquire`](super::limiter::Limiter::acquire)); it is left at this start's slot.
pub(crate) async fn clear_to_start(
    ctx: &RoundCtx,
    gate: &mut watch::Receiver<StockLevel>,
    pace: &mut Option<Instant>,
) -> Ready {
    loop {
        match wait_for_stock(ctx, gate, pace).await {
            Ready::Go => {}
            other => return other,
        }
        let slot = tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            slot = ctx.inner.parts.limiter.acquire(*pace) => slot,
        };
        *pace = Some(slot);
        if ctx.stop.is_cancelled() {
            return Ready::Stopped;
        }
        // A shared gate's last look reads the counter itself: a sell-out through another
        // instance a moment ago is seen here even before its message arrives. Unreadable,
        // the mirror stands (and the health check stops trusting it if Redis is gone).
        if ctx.inner.parts.gate.shared_backend().is_some() {
            let _ = ctx.inner.parts.gate.refresh(ctx.product).await;
        }
        {
            let level = gate.borrow_and_update();
            match verdict(ctx, &level) {
                Some(Ready::Go) => {
                    ctx.inner.parts.events.started(ctx.product, ctx.round);
                    return Ready::Go;
                }
                Some(other) => return other,
                None => {}
            }
        }
        // An order is being committed (or Redis is gone): wait it out, then take a fresh slot.
        *pace = None;
    }
}

/// Sends one notification the dispatcher cleared, retrying as allowed, and reports how it
/// ended together with its permit: the bookkeeping drops the permit once the outcome is
/// written, so the requests started but not yet recorded (those an instance that dies would
/// send again) never exceed the in-flight bound.
pub(crate) async fn deliver(
    ctx: Arc<RoundCtx>,
    item: Item,
    permit: OwnedSemaphorePermit,
    mut gate: watch::Receiver<StockLevel>,
    tx: mpsc::Sender<Done>,
) {
    let outcome = attempts(&ctx, item, &mut gate).await;
    // When the bookkeeping is gone, the permit goes back with the unsent outcome.
    let _ = tx
        .send(Done {
            item,
            outcome,
            permit: Some(permit),
        })
        .await;
}

async fn attempts(ctx: &RoundCtx, item: Item, gate: &mut watch::Receiver<StockLevel>) -> Outcome {
    let config = &ctx.inner.config;
    let mut retries = 0;
    loop {
        let sent_at = ctx.inner.now();
        let notification = Notification::Restock(RestockAlert {
            product_id: ctx.product,
            round: ctx.round,
            user_id: item.user,
            position: item.position,
            product_name: ctx.product_name.clone(),
            sent_at,
            claim_expires_at: None,
        });
        let sent = ctx.inner.parts.channel.send(&notification).await;
        let answered_at = ctx.inner.now();
        match &sent {
            Ok(_) => ctx.inner.parts.events.succeeded(
                ctx.product,
                ctx.round,
                ctx.inner.parts.gate.level(ctx.product).available,
                sent_at,
            ),
            Err(_) => ctx.inner.parts.events.failed(ctx.product),
        }
        let failure = match &sent {
            Ok(_) => {
                log(ctx, &notification, &sent, false, answered_at).await;
                return Outcome::Sent(sent_at);
            }
            Err(failure) => failure.clone(),
        };
        let delay = retry_delay(config, &mut retries, failure);
        log(ctx, &notification, &sent, delay.is_ok(), answered_at).await;
        let delay = match delay {
            Ok(delay) => delay,
            Err(reason) => {
                ctx.end(Ending::Failed(format!(
                    "notifying user {}: {reason}",
                    item.user
                )));
                return Outcome::Broken;
            }
        };
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Outcome::Broken,
            () = tokio::time::sleep(delay) => {}
        }
        match clear_to_start(ctx, gate, &mut None).await {
            Ready::Go => {}
            Ready::SoldOut => {
                ctx.end(Ending::SoldOut);
                return Outcome::Broken;
            }
            Ready::Stopped => return Outcome::Broken,
        }
    }
}

/// Records one attempt of a round's alert in the delivery log.
async fn log(
    ctx: &RoundCtx,
    notification: &Notification,
    sent: &Result<Option<u16>, super::channel::SendError>,
    will_retry: bool,
    answered_at: chrono::DateTime<chrono::Utc>,
) {
    let answer = Answer {
        sent,
        will_retry,
        sender: Sender::Engine,
    };
    ctx.inner
        .deliveries
        .record(attempt_of(notification, answer, answered_at))
        .await;
}
