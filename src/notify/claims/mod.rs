//! One claim round's run: while units are free, give the next member of the line a claim on
//! one of them and tell them; wait while claims are open; end when every unit is in an order
//! (`CANCELED_BY_SOLD_OUT`) or the line is exhausted with no claim open (`COMPLETED`).
//!
//! Each claim is written (with its unit taken from free stock and the round's checkpoint)
//! before its alert goes out, so a crash loses none and gives none twice: the next run sends
//! the alerts of the open claims that have none yet, then goes on from the checkpoint.

mod alerts;

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use self::alerts::{ClaimRun, ready, start};
use crate::domain::claim::Claim;
use crate::domain::ids::ProductId;
use crate::domain::round::{Checkpoint, Round, RoundStatus};
use crate::domain::subscription::Subscription;
use crate::gate::take::Take;
use crate::notify::line::{LineWalk, checkpoint_of};
use crate::notify::parts::Inner;
use crate::notify::round::begin;
use crate::store::StoreResult;
use crate::store::claims::{ClaimFor, Made};

/// Members read from the line at a time (a claim round needs about one per free unit).
const PAGE: i64 = 100;

/// Longest wait before the run looks again on its own (claims used or expired on another
/// instance ring no bell here).
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// The line's members from the round's checkpoint on, one at a time.
struct Members {
    round: i64,
    walk: LineWalk,
    /// The rest of the page read last, and whether it lies in the wrapped part of the walk.
    page: VecDeque<Subscription>,
    wrapped: bool,
}

impl Members {
    async fn next(&mut self, inner: &Inner, product: ProductId) -> StoreResult<Option<ClaimFor>> {
        loop {
            if let Some(s) = self.page.pop_front() {
                return Ok(Some(ClaimFor {
                    product,
                    round: self.round,
                    user: s.user_id,
                    line_id: s.position,
                    wrapped: self.wrapped,
                }));
            }
            let Some((page, wrapped)) = self
                .walk
                .next_page(&*inner.parts.store, product, PAGE)
                .await?
            else {
                return Ok(None);
            };
            self.page.extend(page);
            self.wrapped = wrapped;
        }
    }
}

/// Runs a claim round held by this instance from its checkpoint to its end.
pub(crate) async fn run(inner: &Arc<Inner>, round: Round) -> StoreResult<()> {
    let (product, number) = (round.product_id, round.round);
    let (store, gate) = (&inner.parts.store, &inner.parts.gate);
    let Some(name) = begin(inner, &round).await? else {
        return Ok(());
    };
    let run = Arc::new(ClaimRun::new(inner, round, &name));
    // First the alerts of open claims that have none yet (a crash or a failure came between
    // the claim and its alert), in the order the claims were made.
    let mut previous = None;
    let mut ended = Ok(None);
    let mut unsent = store.unsent_claims(product, number).await?.into_iter();
    let told = loop {
        let Some(claim) = unsent.next() else {
            break true;
        };
        let Some(permit) = ready(&run, &mut previous).await else {
            break false;
        };
        start(&run, claim, permit);
    };
    if told {
        ended = walk(&run, previous).await;
    }
    run.sends.close();
    run.sends.wait().await;
    let status = match (run.failure(), ended?) {
        (Some(error), _) => Some((RoundStatus::CanceledByError, Some(error))),
        (None, Some(status)) => Some((status, None)),
        (None, None) => None,
    };
    let Some((status, error)) = status else {
        store.release_round(product, number, &inner.owner).await?;
        tracing::info!(%product, round = number, "claim round paused at its checkpoint");
        return Ok(());
    };
    store
        .finish_round(
            product,
            number,
            status,
            error.as_deref(),
            &inner.owner,
            inner.now(),
        )
        .await?;
    if let Some(ended) = store.get_round(product, number).await? {
        let stock = gate.level(product).available;
        inner.parts.events.finished(&ended, stock, inner.now());
    }
    tracing::info!(%product, round = number, status = status.as_str(), "claim round ended");
    Ok(())
}

/// Gives claims while units are free and waits while claims are open; answers how the round
/// ends, or None when it must stop here (shutdown, failure, lost lease).
async fn walk(
    run: &Arc<ClaimRun>,
    mut previous: Option<tokio::time::Instant>,
) -> StoreResult<Option<RoundStatus>> {
    let inner = &run.inner;
    let (store, gate) = (&inner.parts.store, &inner.parts.gate);
    let (product, number) = (run.round.product_id, run.round.round);
    let mut line = Members {
        round: number,
        walk: LineWalk::from_checkpoint(&run.round),
        page: VecDeque::new(),
        wrapped: run.round.wrapped,
    };
    let mut checkpoint = checkpoint_of(&run.round);
    let mut stock = gate.subscribe(product);
    let mut bell = gate.watch_claims();
    let mut trusted = gate.watch_trusted();
    // The member whose offer found no unit after all: first in line for the next one.
    let mut waiting: Option<ClaimFor> = None;
    let mut renew = tokio::time::interval(inner.config.flush_every);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    renew.tick().await;
    loop {
        if run.stop.is_cancelled() {
            return Ok(None);
        }
        let mut exhausted = false;
        stock.borrow_and_update();
        bell.borrow_and_update();
        trusted.borrow_and_update();
        if gate.level(product).available > 0 {
            let member = match waiting.take() {
                Some(member) => Some(member),
                None => line.next(inner, product).await?,
            };
            match member {
                Some(member) => {
                    // The claim is made only once its alert can go out at once.
                    let Some(permit) = ready(run, &mut previous).await else {
                        return Ok(None);
                    };
                    match offer(run, member).await? {
                        Offer::Made(claim) => {
                            checkpoint = Checkpoint {
                                cursor: member.line_id,
                                wrapped: member.wrapped,
                                last_sent_user_id: Some(member.user),
                            };
                            start(run, claim, permit);
                            continue;
                        }
                        Offer::Skipped => continue,
                        Offer::Lost => return Ok(None),
                        // Offered again once a unit is free.
                        Offer::NotNow => waiting = Some(member),
                    }
                }
                // The line is exhausted for now (members who join later are found).
                None => exhausted = true,
            }
        }
        let (counts, next_expiry) = store.claims_now(product, number).await?;
        inner.parts.events.claims(
            product,
            number,
            counts,
            gate.level(product).available,
            inner.now(),
        );
        if counts.open == 0 && exhausted {
            return Ok(Some(RoundStatus::Completed));
        }
        if counts.open == 0 && gate.sold_out(&gate.level(product)) {
            return Ok(Some(RoundStatus::CanceledBySoldOut));
        }
        let now = inner.now();
        if next_expiry.is_some_and(|at| at <= now) {
            crate::gate::expiry::expire_claims(store, gate, now, crate::gate::expiry::BATCH)
                .await?;
            continue;
        }
        let wait = next_expiry
            .map(|at| until(now, at))
            .unwrap_or(LOOK_AGAIN)
            .min(LOOK_AGAIN);
        // After a wait, the next alert does not go straight on from the last one.
        previous = None;
        tokio::select! {
            biased;
            () = run.stop.cancelled() => return Ok(None),
            _ = stock.changed() => {}
            _ = bell.changed() => {}
            _ = trusted.changed() => {}
            _ = renew.tick() => {
                let held = store
                    .record_progress(product, number, &[], &checkpoint, &inner.lease(), inner.now())
                    .await?;
                if !held {
                    tracing::warn!(%product, round = number, "lost the round's lease; another instance goes on");
                    return Ok(None);
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// How long from `now` until `at` (0 when passed).
fn until(now: DateTime<Utc>, at: DateTime<Utc>) -> Duration {
    (at - now).to_std().unwrap_or_default()
}

/// What offering a unit to one member did.
enum Offer {
    /// The member has a claim now.
    Made(Claim),
    /// The member already had one this round.
    Skipped,
    /// No unit after all (taken meanwhile): the member waits for the next one.
    NotNow,
    /// The round is not this instance's any more.
    Lost,
}

/// Takes one unit at the gate and writes the member's claim; the unit leaves the gate for
/// good only once the claim is committed.
async fn offer(run: &ClaimRun, member: ClaimFor) -> StoreResult<Offer> {
    let inner = &run.inner;
    let (store, gate) = (&inner.parts.store, &inner.parts.gate);
    let product = run.round.product_id;
    let request = format!("claim-{}-{}-{}", product, run.round.round, member.user);
    let hold = match gate.take(product, 1, &request).await {
        Ok(Take::Taken(hold)) => hold,
        Ok(Take::NotEnough) => return Ok(Offer::NotNow),
        Ok(Take::Unknown) => {
            if let Some(record) = store.stock_of(product).await? {
                let _ = gate.ensure_loaded(record).await;
            }
            return Ok(Offer::NotNow);
        }
        Err(e) => {
            tracing::warn!(%product, error = %e, "the stock gate does not answer; the claim waits");
            return Ok(Offer::NotNow);
        }
    };
    let made = store.make_claim(member, &inner.lease(), inner.now()).await;
    match made {
        Ok(Made::Claimed(claim, version)) => {
            hold.commit(version).await;
            crate::telemetry::metrics::claims("made", 1);
            Ok(Offer::Made(claim))
        }
        Ok(other) => {
            hold.give_back().await;
            Ok(match other {
                Made::Already => Offer::Skipped,
                Made::NotHeld => Offer::Lost,
                _ => {
                    // The database had no free unit although the gate did: believe the
                    // database and wait for the next change.
                    let _ = gate.refresh(product).await;
                    Offer::NotNow
                }
            })
        }
        Err(e) => {
            hold.give_back().await;
            Err(e)
        }
    }
}
