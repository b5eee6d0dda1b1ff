//! The background side of the shared gate: follow published changes, keep this instance's
//! heartbeat, and reconcile the shared counters with the database.

use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::stock::RedisStock;
use crate::state::AppState;

/// How often the heartbeat is renewed and the counters reconciled.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// Follows the stock-change channel into the local mirror, reconnecting after failures.
pub async fn follow_changes(
    state: AppState,
    redis: Arc<RedisStock>,
    client: redis::Client,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(redis.channel()).await {
                    tracing::warn!(error = %e, "Failed to subscribe to stock changes");
                } else {
                    backoff = Duration::from_millis(100);
                    // Changes missed while (re)subscribing are picked up by a refresh.
                    resync(&state, &redis).await;
                    let mut messages = pubsub.on_message();
                    loop {
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            msg = messages.next() => match msg {
                                Some(m) => {
                                    if let Ok(payload) = m.get_payload::<String>() {
                                        redis.apply_message(&state.gate, &payload);
                                    }
                                }
                                None => break,
                            }
                        }
                    }
                    tracing::warn!("stock-change subscription ended; reconnecting");
                }
            }
            Err(e) => tracing::warn!(error = %e, "Failed to connect for stock changes"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Loads every product's counter (keeping any that exist) and mirrors the shared levels.
pub async fn resync(state: &AppState, redis: &RedisStock) {
    match state.store.all_stock().await {
        Ok(all) => {
            for (product, stock) in all {
                if let Err(e) = redis.load(product, stock).await {
                    tracing::warn!(error = %e, %product, "Failed to load a stock counter");
                    continue;
                }
                if let Err(e) = redis.refresh(&state.gate, product).await {
                    tracing::warn!(error = %e, %product, "Failed to read a stock counter");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "Failed to read stock for the shared gate"),
    }
}

/// One reconciliation pass: every product's counter is reset to the database's figure where
/// nothing is in flight and nothing moved meanwhile. Answers how many counters were reset.
pub async fn reconcile_once(state: &AppState, redis: &RedisStock) -> usize {
    let products = match state.store.all_stock().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "Failed to list products to reconcile");
            return 0;
        }
    };
    let mut reset = 0;
    for (product, _) in products {
        // The version is read before the database figure: any change in between aborts.
        let Ok(version) = redis.version(product).await else {
            continue;
        };
        let Ok(Some(p)) = state.store.get_product(product).await else {
            continue;
        };
        match redis.reconcile(product, version, p.stock).await {
            Ok(true) => reset += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, %product, "Failed to reconcile a stock counter"),
        }
    }
    reset
}

/// Renews this instance's heartbeat every [`INTERVAL`] until shutdown. It runs on its own, so
/// a slow reconciliation never lets it lapse: other instances take a lapsed owner's rounds.
pub async fn keep_alive(redis: Arc<RedisStock>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = redis.heartbeat().await {
            tracing::warn!(error = %e, "Failed to renew this instance's heartbeat");
        }
    }
}

/// Reconciliation, every [`INTERVAL`], until shutdown.
pub async fn maintain(state: AppState, redis: Arc<RedisStock>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        reconcile_once(&state, &redis).await;
    }
}
