//! Group commit driven by its callers: each request is queued, and the caller that takes
//! the writer's turn writes every request queued by then in one transaction, on a task of
//! its own (a caller that goes away cannot cut the batch short). A burst of small writes
//! then costs one commit per batch: SQLite has one writer anyway, and on MySQL a batch is
//! one log flush with its product rows locked once. Draw entries and waiting-room joins
//! go through one each.

use std::future::Future;

use tokio::sync::oneshot;

use super::{StoreError, StoreResult};

/// Where one request's answer goes.
pub(crate) type Reply<A> = oneshot::Sender<StoreResult<A>>;

/// Requests of type `T` waiting for the writer, each answered with an `A`.
pub(crate) struct WriteQueue<T, A> {
    /// Requests not yet taken by a batch; the lock only guards the list.
    pending: std::sync::Mutex<Vec<(T, Reply<A>)>>,
    /// Held while a batch is taken and written.
    writer: tokio::sync::Mutex<()>,
    /// Where the batches run, each on a task of its own.
    batches: tokio_util::task::TaskTracker,
}

impl<T, A> std::fmt::Debug for WriteQueue<T, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteQueue")
            .field("pending", &self.pending().len())
            .finish()
    }
}

impl<T, A> WriteQueue<T, A> {
    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<(T, Reply<A>)>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Send + 'static, A: Send + 'static> WriteQueue<T, A> {
    /// An empty queue whose batches run on `tasks`.
    pub fn new(tasks: &tokio_util::task::TaskTracker) -> Self {
        Self {
            pending: std::sync::Mutex::default(),
            writer: tokio::sync::Mutex::default(),
            batches: tasks.clone(),
        }
    }

    /// Queues `request` and answers it once a batch has written it. Whoever takes the turn
    /// hands everything queued by then to `write`; a caller whose request an earlier batch
    /// took answers at once instead of waiting for a turn it no longer needs.
    pub async fn submit<W, F>(&self, request: T, write: W) -> StoreResult<A>
    where
        W: FnOnce(Vec<(T, Reply<A>)>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        self.pending().push((request, reply));
        let lost = || StoreError::Internal("the write batch was lost");
        tokio::select! {
            biased;
            done = &mut answer => return done.map_err(|_| lost())?,
            _turn = self.writer.lock() => {
                let batch = std::mem::take(&mut *self.pending());
                if !batch.is_empty() {
                    let _ = self.batches.spawn(write(batch)).await;
                }
            }
        }
        // The request went into this batch or an earlier one (still running on its task
        // when its caller went away): either answers it.
        answer.await.map_err(|_| lost())?
    }
}

/// Sends each request of a batch its answer; when the batch failed as a whole, every
/// request gets the failure (a lost race stays one, worth the client's retry; anything
/// else is reported as the batch rolled back).
pub(crate) fn answer_batch<A>(
    what: &'static str,
    replies: Vec<Reply<A>>,
    done: StoreResult<Vec<StoreResult<A>>>,
) {
    match done {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        Err(why) => {
            tracing::error!(error = %why, requests = replies.len(), batch = what, "write batch rolled back");
            for reply in replies {
                let _ = reply.send(Err(match why {
                    StoreError::Contended(c) => StoreError::Contended(c),
                    _ => StoreError::Internal("the write batch was rolled back"),
                }));
            }
        }
    }
}
