//! Every background task an instance runs, started in one place and tracked, so that
//! shutdown drains them with the server.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::coord::Shared;
use crate::coord::product_feed::ProductFeed;
use crate::gate::sync::GateSync;
use crate::state::AppState;

/// The shared Redis and its product change feed, when instances coordinate.
pub struct Coordination<'a> {
    /// The Redis connection and this instance's identity there.
    pub shared: &'a Shared,
    /// The product change feed.
    pub feed: Option<ProductFeed>,
}

/// Starts every background worker on `tracker`; each stops when `shutdown` fires.
pub fn spawn_all(
    state: &AppState,
    coordination: Option<Coordination<'_>>,
    tracker: &TaskTracker,
    shutdown: &CancellationToken,
) {
    tracker.spawn(crate::shop::sweeper::run(
        state.shop(),
        state.notifier.delivery_retention_days(),
        shutdown.clone(),
    ));
    tracker.spawn(crate::shop::queue::worker::run(
        state.shop(),
        shutdown.clone(),
    ));
    tracker.spawn(crate::shop::draws::worker::run(
        state.notifier.clone(),
        shutdown.clone(),
    ));
    crate::notify::recovery::spawn(state.notifier.clone(), tracker, shutdown);
    if let (Some(c), Some(redis)) = (coordination, state.gate.shared_backend()) {
        // Plain pub/sub reaches every node of a cluster, so the first node serves the
        // feed; while it is down, reads fall back to the database.
        if let (Some(feed), Some(node)) = (c.feed, c.shared.subscribe.first()) {
            feed.spawn(tracker, node.clone(), redis.namespace(), shutdown);
        }
        let sync = GateSync {
            store: state.store.clone(),
            gate: state.gate.clone(),
            redis: redis.clone(),
        };
        tracker.spawn(
            sync.clone()
                .follow_changes(c.shared.subscribe.clone(), shutdown.clone()),
        );
        tracker.spawn(sync.clone().watch_health(shutdown.clone()));
        tracker.spawn(sync.clone().watch_feed(shutdown.clone()));
        tracker.spawn(sync.clone().keep_alive(shutdown.clone()));
        tracker.spawn(sync.maintain(shutdown.clone()));
    }
    // Rounds stop starting requests as soon as shutdown begins, so `?wait=true` callers get
    // their answer and the HTTP drain can finish.
    let (notifier, events, stopping) = (
        state.notifier.clone(),
        state.events.clone(),
        shutdown.clone(),
    );
    tracker.spawn(async move {
        stopping.cancelled().await;
        notifier.cancel();
        // Open event streams end too, or the HTTP drain would wait for them forever.
        events.close();
    });
}
