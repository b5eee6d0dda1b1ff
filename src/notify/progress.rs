//! A run's bookkeeping: the unbroken run of successes in line order, history rows written
//! in batches, and the checkpoint written with each batch (which also renews the lease).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::runner::{Done, RoundCtx};
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

/// The state between two writes.
struct Progress {
    /// The walk's next member whose outcome extends the unbroken run.
    next_seq: u64,
    /// Outcomes that arrived ahead of `next_seq`.
    parked: HashMap<u64, Done>,
    /// Set once a member in the run was not notified: the run cannot grow any more.
    broken: bool,
    checkpoint: Checkpoint,
    rows: Vec<Recipient>,
    /// Outcomes received in this run (skipped members included).
    received: u64,
}

impl Progress {
    /// Takes one outcome in; a started request's permit is now the bookkeeping's to give back.
    fn take(&mut self, done: Done, unreleased: &mut Unreleased) {
        self.received += 1;
        if !matches!(done, Done::Skipped(_)) {
            unreleased.count += 1;
        }
        self.add(done);
    }

    fn add(&mut self, done: Done) {
        let seq = match &done {
            Done::Sent(item, at) => {
                self.rows.push(Recipient {
                    user_id: item.user,
                    position: item.position,
                    line_id: item.line_id,
                    sent_at: *at,
                });
                item.seq
            }
            Done::Skipped(item) | Done::Broken(item) => item.seq,
        };
        self.parked.insert(seq, done);
        while let Some(next) = self.parked.remove(&self.next_seq) {
            self.next_seq += 1;
            match next {
                Done::Sent(item, _) | Done::Skipped(item) if !self.broken => {
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
pub(crate) async fn collect(
    ctx: Arc<RoundCtx>,
    mut rx: mpsc::Receiver<Done>,
    initial: Checkpoint,
) -> Result<(), Lost> {
    let mut unreleased = Unreleased {
        ctx: ctx.clone(),
        count: 0,
    };
    let config = &ctx.inner.config;
    let mut p = Progress {
        next_seq: 0,
        parked: HashMap::new(),
        broken: false,
        checkpoint: initial,
        rows: Vec::with_capacity(config.batch_rows),
        received: 0,
    };
    let mut tick = tokio::time::interval(config.flush_every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    let result = async {
        loop {
            tokio::select! {
                done = rx.recv() => match done {
                    Some(done) => {
                        p.take(done, &mut unreleased);
                        gather(&ctx, &mut rx, &mut p, &mut unreleased).await;
                        if !p.rows.is_empty() {
                            flush(&ctx, &mut p).await?;
                        }
                        unreleased.release();
                    }
                    None => break,
                },
                _ = tick.tick() => flush(&ctx, &mut p).await?,
            }
        }
        flush(&ctx, &mut p).await
    }
    .await;
    // Outcomes still queued when the bookkeeping stops hold permits too.
    rx.close();
    while let Ok(done) = rx.try_recv() {
        if !matches!(done, Done::Skipped(_)) {
            unreleased.count += 1;
        }
    }
    result
}

/// Batches, after a write's first outcome, the outcomes that follow it: whatever has queued
/// up, then what the requests still in flight report within `linger`. The write goes as soon
/// as the batch is full or nothing more can arrive before it is written: every request the
/// run started has reported and no free permit lets the walk start another. So a fast run
/// writes full batches (one transaction each), and a slow one writes within `linger`.
async fn gather(
    ctx: &RoundCtx,
    rx: &mut mpsc::Receiver<Done>,
    p: &mut Progress,
    unreleased: &mut Unreleased,
) {
    let config = &ctx.inner.config;
    let deadline = tokio::time::Instant::now() + config.linger;
    while p.rows.len() < config.batch_rows {
        while p.rows.len() < config.batch_rows {
            match rx.try_recv() {
                Ok(more) => p.take(more, unreleased),
                Err(_) => break,
            }
        }
        if p.rows.len() >= config.batch_rows || ctx.settled(p.received) {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(more)) => p.take(more, unreleased),
            // The walk is over (the next receive says so) or the wait is.
            Ok(None) | Err(_) => return,
        }
    }
}

/// Permits of outcomes received but not yet given back; given back on release or drop, so
/// no exit path can starve later rounds of in-flight room.
struct Unreleased {
    ctx: Arc<RoundCtx>,
    count: usize,
}

impl Unreleased {
    fn release(&mut self) {
        if self.count > 0 {
            self.ctx.inner.permits.add_permits(self.count);
            self.count = 0;
        }
    }
}

impl Drop for Unreleased {
    fn drop(&mut self) {
        self.release();
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
