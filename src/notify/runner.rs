//! One round's run: walk the line in keyset pages, start requests in line order, then end
//! the round (or leave it for a later start when the server stops).

use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{TryAcquireError, mpsc};

use super::deliver::{self, Ready};
use super::line::{LineWalk, checkpoint_of};
use super::parts::Inner;
use super::progress::{self, Lost};
use super::round::{Done, Ending, Item, Outcome, RoundCtx, begin};
use crate::domain::claim::AlertMode;
use crate::domain::ids::{ProductId, UserId};
use crate::domain::round::{Round, RoundStatus};
use crate::domain::subscription::Subscription;
use crate::store::StoreResult;

enum Walked {
    /// Every member was started (or skipped).
    Exhausted,
    /// The round stopped early.
    Stopped,
}

/// Runs a round held by this instance from its checkpoint to its end.
pub(crate) async fn run(inner: &Arc<Inner>, product: ProductId, round: i64) {
    if let Err(e) = run_round(inner, product, round).await {
        tracing::error!(%product, round, error = %e, "round runner failed; it will be recovered");
        let _ = inner
            .parts
            .store
            .release_round(product, round, &inner.owner)
            .await;
    }
}

async fn run_round(inner: &Arc<Inner>, product: ProductId, round: i64) -> StoreResult<()> {
    let Some(r) = inner.parts.store.get_round(product, round).await? else {
        return Ok(());
    };
    if r.status != RoundStatus::InProgress {
        return Ok(());
    }
    if r.alert_mode == AlertMode::Claim {
        return super::claims::run(inner, r).await;
    }
    let Some(name) = begin(inner, &r).await? else {
        return Ok(());
    };
    // Positions go on from the end of the unbroken run.
    let base = match r.last_sent_user_id {
        Some(u) => inner
            .parts
            .store
            .recipients_among(product, round, &[u])
            .await?
            .first()
            .map_or(0, |(_, pos)| *pos),
        None => 0,
    };
    let ctx = Arc::new(RoundCtx::new(inner, product, round, &name));
    let walk = LineWalk::from_checkpoint(&r);
    let initial = checkpoint_of(&r);
    // Bounded: when a batch write is slow, deliveries wait (holding their permits), so the
    // dispatcher waits too instead of queueing outcomes without limit.
    let (tx, rx) = mpsc::channel(4 * inner.config.batch_rows.max(1));
    let walking = async {
        let walked = dispatch(&ctx, walk, base, tx).await;
        if walked.is_err() {
            ctx.stop.cancel();
        }
        walked
    };
    let (walked, recorded) = tokio::join!(walking, progress::collect(ctx.clone(), rx, initial));
    // Every delivery has reported by now, and the read-ahead stops once the walk is over.
    ctx.tasks.close();
    ctx.tasks.wait().await;
    let written = match recorded {
        Err(Lost::Lease) => {
            tracing::warn!(%product, round, "lost the round's lease; another instance goes on");
            return Ok(());
        }
        Err(Lost::Store(e)) => return Err(e),
        Ok(written) => written,
    };
    let (status, error) = match (ctx.ending(), walked?) {
        (Some(Ending::Failed(text)), _) => (RoundStatus::CanceledByError, Some(text)),
        (Some(Ending::SoldOut), _) => (RoundStatus::CanceledBySoldOut, None),
        (None, Walked::Exhausted) => (RoundStatus::Completed, None),
        (None, Walked::Stopped) => {
            inner
                .parts
                .store
                .release_round(product, round, &inner.owner)
                .await?;
            tracing::info!(%product, round, "round paused by shutdown at its checkpoint");
            return Ok(());
        }
    };
    let now = inner.now();
    let finished = inner
        .parts
        .store
        .finish_round(product, round, status, error.as_deref(), &inner.owner, now)
        .await?;
    if !finished {
        tracing::warn!(%product, round, "lost the round's lease before ending it; another instance goes on");
        return Ok(());
    }
    // The round as it now stands, from what this run read and wrote: no second read.
    let ended = Round {
        status,
        error,
        finished_at: Some(now),
        last_sent_user_id: written.checkpoint.last_sent_user_id,
        cursor: written.checkpoint.cursor,
        wrapped: written.checkpoint.wrapped,
        notified_count: r.notified_count + written.notified,
        ..r
    };
    let stock = inner.parts.gate.level(product).available;
    inner.parts.events.finished(&ended, stock, inner.now());
    tracing::info!(%product, round, status = status.as_str(), "round ended");
    Ok(())
}

/// A page of the walk, ready to be sent.
struct Page {
    members: Vec<Subscription>,
    wrapped: bool,
    /// Members of the page already in the round's history, with their positions.
    already: HashMap<UserId, i64>,
}

/// Reads the walk's pages ahead of the dispatcher; a read error is handed on as a page, and
/// the reading stops when the walk is over or the dispatcher no longer takes pages (at once,
/// also in the middle of a read whose page nobody would take).
async fn read_ahead(
    ctx: Arc<RoundCtx>,
    mut walk: LineWalk,
    pages: mpsc::Sender<StoreResult<Page>>,
) {
    loop {
        let read = async {
            let Some((members, wrapped)) = walk
                .next_page(
                    &*ctx.inner.parts.store,
                    ctx.product,
                    ctx.inner.config.page_size,
                )
                .await?
            else {
                return Ok(None);
            };
            let users: Vec<UserId> = members.iter().map(|s| s.user_id).collect();
            let already = ctx
                .inner
                .parts
                .store
                .recipients_among(ctx.product, ctx.round, &users)
                .await?
                .into_iter()
                .collect();
            Ok(Some(Page {
                members,
                wrapped,
                already,
            }))
        };
        let next = tokio::select! {
            biased;
            () = pages.closed() => return,
            next = read => next,
        };
        let last = !matches!(next, Ok(Some(_)));
        let page = match next {
            Ok(Some(page)) => Ok(page),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        if pages.send(page).await.is_err() || last {
            return;
        }
    }
}

/// Starts the line's members in walk order: for each, a permit, then the stock and the
/// limiter's slot (`deliver::clear_to_start`), and only then a task for the send and its
/// retries. One member is cleared at a time, so starts keep line order under either
/// schedule, in process or in Redis.
async fn dispatch(
    ctx: &Arc<RoundCtx>,
    walk: LineWalk,
    mut position: i64,
    tx: mpsc::Sender<Done>,
) -> StoreResult<Walked> {
    let mut gate = ctx.inner.parts.gate.subscribe(ctx.product);
    let mut seq = 0_u64;
    // The slot of the previous start while the walk goes straight on from it; any wait
    // (a page, a permit, the stock) clears it.
    let mut pace = None;
    // The next page is read (with its members already in the history) while this one is
    // being sent: one page ahead, so memory stays a few pages whatever the line's length.
    let (pages_tx, mut pages) = mpsc::channel(1);
    ctx.tasks.spawn(read_ahead(ctx.clone(), walk, pages_tx));
    loop {
        if ctx.stop.is_cancelled() {
            return Ok(Walked::Stopped);
        }
        let next = match pages.try_recv() {
            Ok(page) => Some(page),
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => {
                pace = None;
                pages.recv().await
            }
        };
        let Some(next) = next else {
            return Ok(Walked::Exhausted);
        };
        let Page {
            members: page,
            wrapped,
            already,
        } = next?;
        for sub in page {
            let mut item = Item {
                seq,
                line_id: sub.position,
                user: sub.user_id,
                wrapped,
                position: 0,
            };
            seq += 1;
            if let Some(pos) = already.get(&sub.user_id) {
                position = position.max(*pos);
                item.position = *pos;
                ctx.dispatched_one();
                let _ = tx
                    .send(Done {
                        item,
                        outcome: Outcome::Skipped,
                        permit: None,
                    })
                    .await;
                continue;
            }
            let permit = match ctx.inner.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(TryAcquireError::Closed) => return Ok(Walked::Stopped),
                Err(TryAcquireError::NoPermits) => {
                    pace = None;
                    tokio::select! {
                        biased;
                        () = ctx.stop.cancelled() => return Ok(Walked::Stopped),
                        p = ctx.inner.permits.clone().acquire_owned() => match p {
                            Ok(p) => p,
                            Err(_) => return Ok(Walked::Stopped),
                        },
                    }
                }
            };
            ctx.dispatched_one();
            let ready = deliver::clear_to_start(ctx, &mut gate, &mut pace).await;
            if ready != Ready::Go {
                if ready == Ready::SoldOut {
                    ctx.end(Ending::SoldOut);
                }
                let _ = tx
                    .send(Done {
                        item,
                        outcome: Outcome::Broken,
                        permit: Some(permit),
                    })
                    .await;
                return Ok(Walked::Stopped);
            }
            position += 1;
            item.position = position;
            ctx.tasks.spawn(deliver::deliver(
                ctx.clone(),
                item,
                permit,
                gate.clone(),
                tx.clone(),
            ));
        }
    }
}
