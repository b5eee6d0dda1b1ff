//! The delivery log's writer: every attempt at a notification is handed to it without
//! waiting for the database, and it appends them in batches, so the log never costs a round
//! its rate. `flush` waits until everything handed over before it is written.

use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use super::channel::{Notification, SendError};
use crate::domain::delivery::{DeliveryAttempt, DeliveryKind, DeliveryOutcome, Sender};
use crate::store::Store;
use crate::telemetry::metrics;

/// Most attempts one write appends.
const BATCH: usize = 1000;
/// Attempts waiting for the writer before a new one waits for room.
const BACKLOG: usize = 65_536;

enum Entry {
    Attempt(DeliveryAttempt),
    Flush(oneshot::Sender<()>),
}

/// The handle senders record attempts through; the writer ends when the last handle goes.
#[derive(Clone)]
pub struct DeliveryLog {
    tx: mpsc::Sender<Entry>,
}

impl DeliveryLog {
    /// Starts the writer appending to `store`.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (tx, rx) = mpsc::channel(BACKLOG);
        tokio::spawn(write(store, rx));
        Self { tx }
    }

    /// Hands one attempt to the writer.
    pub async fn record(&self, attempt: DeliveryAttempt) {
        metrics::delivery_recorded(attempt.outcome.as_str());
        // Gone only once the process is stopping.
        let _ = self.tx.send(Entry::Attempt(attempt)).await;
    }

    /// Waits until every attempt recorded before this call is in the database.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.tx.send(Entry::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Entry>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(entry) = next.take() {
            match entry {
                Entry::Attempt(a) => batch.push(a),
                Entry::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.record_deliveries(&batch).await {
                // The log is for the operator; a lost batch never stops a round.
                tracing::warn!(error = %e, rows = batch.len(), "writing the delivery log failed");
            }
            batch.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// What one send did, for the log: how the attempt ended, given whether another follows.
pub(crate) struct Answer<'a> {
    /// The send's result.
    pub sent: &'a Result<Option<u16>, SendError>,
    /// Whether a retry (or a probe) follows a failure.
    pub will_retry: bool,
    /// Who sent it.
    pub sender: Sender,
}

/// The log's record of `notification`'s attempt, answered at `answered_at`.
pub(crate) fn attempt_of(
    notification: &Notification,
    answer: Answer<'_>,
    answered_at: chrono::DateTime<chrono::Utc>,
) -> DeliveryAttempt {
    let (kind, product_id, round, user_id) = match notification {
        Notification::Restock(n) => (
            if n.claim_expires_at.is_some() {
                DeliveryKind::Claim
            } else {
                DeliveryKind::Restock
            },
            n.product_id,
            Some(n.round),
            n.user_id,
        ),
        Notification::DrawWon(n) => (DeliveryKind::DrawWon, n.win.product_id, None, n.win.user_id),
    };
    let (outcome, http_status, error) = match answer.sent {
        Ok(status) => (DeliveryOutcome::Delivered, *status, None),
        Err(e) => (
            if answer.will_retry {
                DeliveryOutcome::Pending
            } else {
                DeliveryOutcome::Failed
            },
            e.status(),
            Some(e.to_string()),
        ),
    };
    DeliveryAttempt {
        webhook_id: notification.idempotency_key(),
        kind,
        product_id,
        round,
        user_id,
        outcome,
        sender: answer.sender,
        http_status,
        error,
        started_at: notification.sent_at(),
        answered_at,
        body: serde_json::to_string(notification).unwrap_or_default(),
    }
}
