//! One notification's delivery: the stock and rate checks before every start, and retries.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio::time::Instant;

use super::channel::{Notification, RestockAlert, SendError};
use super::engine::EngineConfig;
use super::runner::{Done, Ending, Item, RoundCtx};
use crate::shop::gate::StockLevel;

/// Whether a request may start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Stock is free and the limiter granted a slot: start at once.
    Go,
    /// The stock reached 0 for good.
    SoldOut,
    /// The round is stopping.
    Stopped,
}

/// Waits until the product has free stock (an order being committed may still fail and give
/// its units back, so that is waited out), or learns it is sold out.
pub(crate) async fn wait_for_stock(
    ctx: &RoundCtx,
    gate: &mut watch::Receiver<StockLevel>,
) -> Ready {
    // A shared gate whose Redis is gone is not believed: its 0 may be stale, so the round
    // waits for Redis instead of ending as sold out.
    let mut trusted = ctx.inner.parts.gate.watch_trusted();
    loop {
        trusted.borrow_and_update();
        let level = *gate.borrow_and_update();
        if level.available > 0 {
            return Ready::Go;
        }
        if ctx.inner.parts.gate.sold_out(&level) {
            return Ready::SoldOut;
        }
        ctx.inner.pauses.send_modify(|n| *n += 1);
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            changed = gate.changed() => if changed.is_err() { return Ready::Stopped },
            changed = trusted.changed() => if changed.is_err() { return Ready::Stopped },
        }
    }
}

/// The check before every start, retries included: stock, then a limiter slot, then stock
/// again right before the start (the slot may have taken a while).
pub(crate) async fn ready_to_start(
    ctx: &RoundCtx,
    gate: &mut watch::Receiver<StockLevel>,
) -> Ready {
    loop {
        match wait_for_stock(ctx, gate).await {
            Ready::Go => {}
            other => return other,
        }
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            () = ctx.inner.parts.limiter.acquire() => {}
        }
        if ctx.stop.is_cancelled() {
            return Ready::Stopped;
        }
        let level = *gate.borrow_and_update();
        if level.available > 0 {
            return Ready::Go;
        }
        if ctx.inner.parts.gate.sold_out(&level) {
            return Ready::SoldOut;
        }
        // An order is being committed (or Redis is gone): wait it out, then take a fresh slot.
    }
}

/// Delay before retry number `retry` (1-based): a random time up to `base` × 2^(retry-1)
/// (full jitter, so retries of many requests spread out instead of arriving together), at
/// least what the provider asked, and never more than `max`.
pub(crate) fn backoff(
    base: Duration,
    max: Duration,
    retry: u32,
    asked: Option<Duration>,
    rng: &mut impl rand::Rng,
) -> Duration {
    let ceiling = base
        .saturating_mul(1_u32 << retry.saturating_sub(1).min(16))
        .min(max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(rng.random_range(0..=ceiling_ms));
    jittered.max(asked.unwrap_or_default()).min(max)
}

/// After a failed send, counted in `retries`: how long to wait before trying again, or, when
/// the failure is permanent or the retries have run out, why to give up.
pub(crate) fn retry_delay(
    config: &EngineConfig,
    retries: &mut u32,
    failure: SendError,
) -> Result<Duration, String> {
    match failure {
        SendError::Permanent(reason) => Err(reason),
        SendError::Retryable {
            reason,
            retry_after,
        } => {
            if *retries >= config.max_retries {
                return Err(format!(
                    "{reason} (gave up after {} attempts)",
                    *retries + 1
                ));
            }
            *retries += 1;
            Ok(backoff(
                config.backoff,
                config.backoff_max,
                *retries,
                retry_after,
                &mut rand::rng(),
            ))
        }
    }
}

/// Where one request stands in the line's order of starts: it may start once the request
/// before it has (or has given up), and lets the one after it go when it has decided.
pub(crate) struct Turn {
    /// Resolves when the predecessor has started; None for the first of a run.
    pub after: Option<oneshot::Receiver<()>>,
    /// Tells the successor this request has started or given up (dropping it does too).
    pub then: oneshot::Sender<()>,
}

/// The first start of a request, cleared by the dispatcher against the stock already: sleep
/// until the reserved slot, wait for the predecessor, pass the window check, read the gate
/// once more, and only then hand the turn on.
async fn first_start(
    ctx: &RoundCtx,
    slot: Option<Instant>,
    turn: Turn,
    gate: &mut watch::Receiver<StockLevel>,
) -> Ready {
    if let Some(slot) = slot {
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            () = tokio::time::sleep_until(slot) => {}
        }
    }
    if let Some(after) = turn.after {
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Ready::Stopped,
            _ = after => {}
        }
    }
    tokio::select! {
        biased;
        () = ctx.stop.cancelled() => return Ready::Stopped,
        () = ctx.inner.parts.limiter.admit() => {}
    }
    let level = *gate.borrow_and_update();
    let verdict = if ctx.stop.is_cancelled() {
        Ready::Stopped
    } else if level.available > 0 {
        Ready::Go
    } else if ctx.inner.parts.gate.sold_out(&level) {
        Ready::SoldOut
    } else {
        // An order is being committed: wait it out, then take a fresh slot.
        ready_to_start(ctx, gate).await
    };
    let _ = turn.then.send(());
    verdict
}

/// Delivers one notification: its first start at `slot` in turn, then retries as allowed;
/// reports how it ended. The permit stays taken until the outcome is written (the
/// bookkeeping gives it back after its write), so the requests started but not yet recorded
/// (those an instance that dies would send again) never exceed the in-flight bound.
pub(crate) async fn deliver(
    ctx: Arc<RoundCtx>,
    item: Item,
    slot: Option<Instant>,
    turn: Turn,
    permit: OwnedSemaphorePermit,
    mut gate: watch::Receiver<StockLevel>,
    tx: mpsc::Sender<Done>,
) {
    let done = match first_start(&ctx, slot, turn, &mut gate).await {
        Ready::Go => attempts(&ctx, item, &mut gate).await,
        Ready::SoldOut => {
            ctx.end(Ending::SoldOut);
            Done::Broken(item)
        }
        Ready::Stopped => Done::Broken(item),
    };
    if tx.send(done).await.is_ok() {
        permit.forget();
    }
}

async fn attempts(ctx: &RoundCtx, item: Item, gate: &mut watch::Receiver<StockLevel>) -> Done {
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
        ctx.inner.parts.events.started(ctx.product, ctx.round);
        let sent = ctx.inner.parts.channel.send(&notification).await;
        match &sent {
            Ok(()) => ctx.inner.parts.events.succeeded(
                ctx.product,
                ctx.round,
                ctx.inner.parts.gate.level(ctx.product).available,
                sent_at,
            ),
            Err(_) => ctx.inner.parts.events.failed(ctx.product),
        }
        let failure = match sent {
            Ok(()) => return Done::Sent(item, sent_at),
            Err(failure) => failure,
        };
        let delay = match retry_delay(config, &mut retries, failure) {
            Ok(delay) => delay,
            Err(reason) => {
                ctx.end(Ending::Failed(format!(
                    "notifying user {}: {reason}",
                    item.user
                )));
                return Done::Broken(item);
            }
        };
        tokio::select! {
            biased;
            () = ctx.stop.cancelled() => return Done::Broken(item),
            () = tokio::time::sleep(delay) => {}
        }
        match ready_to_start(ctx, gate).await {
            Ready::Go => {}
            Ready::SoldOut => {
                ctx.end(Ending::SoldOut);
                return Done::Broken(item);
            }
            Ready::Stopped => return Done::Broken(item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    const BASE: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(1);

    /// The delays of 2,000 draws of retry `retry`, from a fixed seed.
    fn draws(retry: u32, asked: Option<Duration>) -> Vec<Duration> {
        let mut rng = StdRng::seed_from_u64(14);
        (0..2000)
            .map(|_| backoff(BASE, MAX, retry, asked, &mut rng))
            .collect()
    }

    #[test]
    fn backoff_is_fully_jittered_below_a_doubling_ceiling() {
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            let d = draws(retry, None);
            let ceiling = Duration::from_millis(ceiling);
            assert!(d.iter().all(|x| *x <= ceiling), "retry {retry}");
            // Full jitter: the draws cover the range from near 0 to near the ceiling.
            assert!(d.iter().any(|x| *x < ceiling / 10), "retry {retry}");
            assert!(d.iter().any(|x| *x > ceiling * 9 / 10), "retry {retry}");
            let distinct: std::collections::HashSet<_> = d.iter().collect();
            assert!(distinct.len() > 50, "retry {retry}");
        }
    }

    #[test]
    fn backoff_never_passes_the_maximum() {
        for retry in [5, 9, 17, 40, u32::MAX] {
            let d = draws(retry, None);
            assert!(d.iter().all(|x| *x <= MAX), "retry {retry}");
            assert!(d.iter().any(|x| *x > MAX * 9 / 10), "retry {retry}");
        }
    }

    #[test]
    fn backoff_waits_at_least_what_retry_after_asks_up_to_the_maximum() {
        let asked = Duration::from_millis(700);
        assert!(draws(1, Some(asked)).iter().all(|x| *x == asked));
        assert!(
            draws(4, Some(asked))
                .iter()
                .all(|x| *x >= asked && *x <= MAX)
        );
        let too_long = Some(Duration::from_secs(3600));
        assert!(draws(2, too_long).iter().all(|x| *x == MAX));
    }
}
