//! The recovery worker: continues rounds left running by a stopped or crashed instance.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::engine::Notifier;

/// Runs `recover_once` at start-up and then every third of the lease, until `shutdown`.
pub fn spawn(notifier: Notifier, tracker: &TaskTracker, shutdown: &CancellationToken) {
    let shutdown = shutdown.clone();
    tracker.spawn(async move {
        loop {
            if let Err(e) = notifier.recover_once().await {
                tracing::warn!(error = %e, "looking for rounds to continue failed");
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(notifier.recovery_interval()) => {}
            }
        }
    });
}
