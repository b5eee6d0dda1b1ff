//! The background workers every instance runs, started and drained with the server.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::state::AppState;

/// Starts every background worker on `tracker`; each stops when `shutdown` fires.
pub fn spawn_all(state: &AppState, tracker: &TaskTracker, shutdown: &CancellationToken) {
    tracker.spawn(crate::shop::holds::run(state.clone(), shutdown.clone()));
    crate::notify::recovery::spawn(state.notifier.clone(), tracker, shutdown);
}
