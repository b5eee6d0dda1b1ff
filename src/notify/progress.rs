//! A run's bookkeeping: the unbroken run of successes in line order, history rows written
//! in batches, and the checkpoint written with each batch (which also renews the lease).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::MissedTickBehavior;

use super::round::{Done, Item, Outcome, RoundCtx};
use crate::domain::round::{Checkpoint, Recipient};
use crate::store::StoreError;

/// Why the bookkeeping gave up.
#[derive(Debug)]
pub(crate) enum Lost {
    /// Another instance holds the round now.
    Lease,
    /// The database kept failing.
    Store(StoreError),
}

/// What the run wrote, for the round's ended view.
#[derive(Debug)]
pub(crate) struct Written {
    /// The last checkpoint written.
    pub checkpoint: Checkpoint,
    /// History rows this run wrote.
    pub notified: i64,
}

/// The state between two writes.
struct Progress {
    /// The walk's next member whose outcome extends the unbroken run.
    next_seq: u64,
    /// Outcomes that arrived ahead of `next_seq`.
    parked: HashMap<u64, (Item, Outcome)>,
    /// Permits of the outcomes taken in since the last write: dropped after it, so the
    /// requests started but not yet recorded never exceed the in-flight bound (and, being
    /// permits, they go back on any exit path too).
    held: Vec<OwnedSemaphorePermit>,
    /// Set once a member in the run was not notified: the run cannot grow any more.
    broken: bool,
    checkpoint: Checkpoint,
    rows: Vec<Recipient>,
    /// Outcomes received in this run (skipped members included).
    received: u64,
    /// History rows written in this run.
    notified: i64,
}

impl Progress {
    /// Takes one outcome in; a started request's permit is now held until the next write.
    fn take(&mut self, done: Done) {
        self.received += 1;
        self.held.extend(done.permit);
        let Done { item, outcome, .. } = done;
        if let Outcome::Sent(at) = outcome {
            self.rows.push(Recipient {
                user_id: item.user,
                position: item.position,
                line_id: item.line_id,
                sent_at: at,
            });
        }
        self.parked.insert(item.seq, (item, outcome));
        while let Some((item, outcome)) = self.parked.remove(&self.next_seq) {
            self.next_seq += 1;
            match outcome {
                Outcome::Sent(_) | Outcome::Skipped if !self.broken => {
                    self.checkpoint = Checkpoint {
                        cursor: item.line_id,
                        wrapped: item.wrapped,
                        last_sent_user_id: Some(item.user),
                    };
                }
                _ => self.broken = true,
            }
        }
    }
}

/// Collects outcomes until every sender is gone, writing them as soon as they arrive (in
/// batches of what queued up during the previous write, at most `batch_rows`) and at least
/// every `flush_every` (which renews the lease); writes the last batch before returning.
/// Outcomes still queued when it gives up go back with the receiver, permits and all.
pub(crate) async fn collect(
    ctx: Arc<RoundCtx>,
    mut rx: mpsc::Receiver<Done>,
    initial: Checkpoint,
) -> Result<Written, Lost> {
    let config = &ctx.inner.config;
    let mut p = Progress {
        next_seq: 0,
        parked: HashMap::new(),
        held: Vec::new(),
        broken: false,
        checkpoint: initial,
        rows: Vec::with_capacity(config.batch_rows),
        received: 0,
        notified: 0,
    };
    let mut tick = tokio::time::interval(config.flush_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            done = rx.recv() => match done {
                Some(done) => {
                    p.take(done);
                    gather(&ctx, &mut rx, &mut p).await;
                    if !p.rows.is_empty() {
                        flush(&ctx, &mut p).await?;
                    }
                    p.held.clear();
                }
                None => break,
            },
            _ = tick.tick() => flush(&ctx, &mut p).await?,
        }
    }
    flush(&ctx, &mut p).await?;
    Ok(Written {
        checkpoint: p.checkpoint,
        notified: p.notified,
    })
}

/// Batches, after a write's first outcome, the outcomes that follow it: whatever has queued
/// up, then what the requests still in flight report within `linger`. The write goes as soon
/// as the batch is full or nothing more can arrive before it is written: every request the
/// run started has reported and no free permit lets the walk start another. So a fast run
/// writes full batches (one transaction each), and a slow one writes within `linger`.
async fn gather(ctx: &RoundCtx, rx: &mut mpsc::Receiver<Done>, p: &mut Progress) {
    let config = &ctx.inner.config;
    let deadline = tokio::time::Instant::now() + config.linger;
    while p.rows.len() < config.batch_rows {
        while p.rows.len() < config.batch_rows {
            match rx.try_recv() {
                Ok(more) => p.take(more),
                Err(_) => break,
            }
        }
        if p.rows.len() >= config.batch_rows || ctx.settled(p.received) {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(more)) => p.take(more),
            // The walk is over (the next receive says so) or the wait is.
            Ok(None) | Err(_) => return,
        }
    }
}

async fn flush(ctx: &RoundCtx, p: &mut Progress) -> Result<(), Lost> {
    let mut attempt = 0;
    loop {
        let lease = ctx.inner.lease();
        let written = ctx
            .inner
            .parts
            .store
            .record_progress(
                ctx.product,
                ctx.round,
                &p.rows,
                &p.checkpoint,
                &lease,
                ctx.inner.now(),
            )
            .await;
        match written {
            Ok(true) => {
                p.notified += p.rows.len() as i64;
                p.rows.clear();
                ctx.inner.parts.events.checkpoint(
                    ctx.product,
                    ctx.round,
                    p.checkpoint.last_sent_user_id,
                    ctx.inner.parts.gate.level(ctx.product).available,
                    ctx.inner.now(),
                );
                return Ok(());
            }
            Ok(false) => {
                ctx.stop.cancel();
                return Err(Lost::Lease);
            }
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "writing round progress failed; retrying");
                tokio::time::sleep(Duration::from_millis(100) * attempt).await;
            }
            Err(e) => {
                ctx.stop.cancel();
                return Err(Lost::Store(e));
            }
        }
    }
}
