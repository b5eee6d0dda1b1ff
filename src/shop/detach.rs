//! Work that must finish once started: it runs on a tracked task of its own, so a request
//! whose client went away (its future dropped at any await) cannot cut it in half.

use std::future::Future;
use tokio_util::task::TaskTracker;

use crate::store::StoreError;

/// The detached work ended without an answer (it panicked).
#[derive(Debug, thiserror::Error)]
#[error("a detached step failed: {0}")]
pub struct Interrupted(pub String);

/// Why a detached step on the database did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The database refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The detached step ended without an answer.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// Runs `work` to completion on a task tracked by `tasks` and answers its outcome; dropping
/// the answer's future leaves the work running.
pub async fn detached<T, F>(tasks: &TaskTracker, work: F) -> Result<T, Interrupted>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    tasks
        .spawn(work)
        .await
        .map_err(|e| Interrupted(e.to_string()))
}
