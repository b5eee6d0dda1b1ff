//! The background side of the shared gate: follow published changes, keep this instance's
//! heartbeat, and reconcile the shared counters with the database.

use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::stock::{Reconciled, RedisStock};
use crate::domain::ids::ProductId;
use crate::state::AppState;

/// How often the heartbeat is renewed and the counters reconciled.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// Follows the stock-change channel into the local mirror, reconnecting after failures; each
/// attempt goes to the next of `clients` (in a cluster, the nodes it listed).
pub async fn follow_changes(
    state: AppState,
    redis: Arc<RedisStock>,
    clients: Vec<redis::Client>,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    let mut next = 0_usize;
    while !shutdown.is_cancelled() {
        let Some(client) = clients.get(next % clients.len().max(1)) else {
            tracing::error!("no Redis node to follow stock changes on");
            return;
        };
        next = next.wrapping_add(1);
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub.subscribe(redis.channel()).await {
                    tracing::warn!(error = %e, "Failed to subscribe to stock changes");
                } else {
                    backoff = Duration::from_millis(100);
                    // Changes missed while (re)subscribing are picked up by a refresh.
                    resync(&state, &redis).await;
                    redis.set_following(true);
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
                    redis.set_following(false);
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

/// How often the health check runs the probe scripts.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

/// Runs the readiness probe ([`RedisStock::probe`]) every [`HEALTH_INTERVAL`]. When it fails
/// the gate stops being trusted (rounds wait instead of ending, `/readyz` answers 503); when
/// it works again this instance renews its heartbeat, refreshes every counter and its
/// mirror, reconciles, and only then trusts the gate again.
pub async fn watch_health(state: AppState, redis: Arc<RedisStock>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match redis.probe().await {
            Ok(()) if !redis.following() => {
                if state.gate.trusted() {
                    tracing::warn!(
                        "the stock-change subscription is down: the gate's mirror may be stale, /readyz answers 503"
                    );
                }
                state.gate.set_trusted(false);
            }
            Ok(()) if !state.gate.trusted() => {
                // Counters first, then reconciliation (units a failed call could not return),
                // then the mirror again from what reconciliation left: only then is a 0 true.
                if redis.heartbeat().await.is_ok()
                    && resync(&state, &redis).await
                    && reconcile_once(&state, &redis).await.is_some()
                    && resync(&state, &redis).await
                {
                    state.gate.set_trusted(true);
                    tracing::info!("Redis is usable: the stock gate is trusted, /readyz is ready");
                }
            }
            Ok(()) => {}
            Err(e) => {
                if state.gate.trusted() {
                    tracing::error!(cause = %super::target::explain(&e),
                        "Redis is not usable: /readyz answers 503, orders answer 503, rounds wait");
                }
                state.gate.set_trusted(false);
            }
        }
    }
}

/// Loads every product's counter (keeping any that exist), mirrors the shared levels, and
/// reconciles at once where Redis holds what the database never had (see `reconcile_once`).
/// Answers whether every counter was loaded.
pub async fn resync(state: &AppState, redis: &RedisStock) -> bool {
    match state.store.all_stock().await {
        Ok(all) => {
            let mut complete = true;
            for record in all {
                match redis.load(&state.gate, record).await {
                    Ok(seen) if seen > record.version => {
                        tracing::warn!(product = %record.product, seen, db = record.version,
                            "the shared counter is ahead of the database; rebuilding it");
                        reconcile_product(state, redis, record.product, None).await;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        complete = false;
                        tracing::warn!(error = %e, product = %record.product, "Failed to load a stock counter");
                    }
                }
            }
            complete
        }
        Err(e) => {
            tracing::warn!(error = %e, "Failed to read stock for the shared gate");
            false
        }
    }
}

/// One reconciliation pass over every product: in-flight units of dead instances are dropped,
/// and each counter is reset to the database's figure where nothing is in flight and nothing
/// moved meanwhile, or rebuilt where it is ahead of the database. Answers how many changed,
/// None when the products or the live instances could not be listed.
pub async fn reconcile_once(state: &AppState, redis: &RedisStock) -> Option<usize> {
    let products = match state.store.all_stock().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "Failed to list products to reconcile");
            return None;
        }
    };
    let live = match redis.live_instances().await {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!(error = %e, "Failed to list live instances");
            return None;
        }
    };
    let mut changed = 0;
    for record in products {
        if matches!(
            reconcile_product(state, redis, record.product, Some(&live)).await,
            Some(Reconciled::Reset | Reconciled::Rebuilt)
        ) {
            changed += 1;
        }
    }
    Some(changed)
}

/// Reconciles one product's counter. The counter's change version is read before the
/// database's record: any change in between makes the script refuse (`Busy`).
async fn reconcile_product(
    state: &AppState,
    redis: &RedisStock,
    product: ProductId,
    live: Option<&[String]>,
) -> Option<Reconciled> {
    let live = match live {
        Some(l) => l.to_vec(),
        None => redis.live_instances().await.ok()?,
    };
    let version = redis.version(product).await.ok()?;
    let record = state.store.stock_of(product).await.ok()??;
    match redis.reconcile(record, version, &live).await {
        Ok(r) => {
            if r == Reconciled::Rebuilt {
                tracing::warn!(%product, "rebuilt a shared counter that was ahead of the database");
            }
            Some(r)
        }
        Err(e) => {
            tracing::warn!(error = %e, %product, "Failed to reconcile a stock counter");
            None
        }
    }
}

/// Renews this instance's heartbeat every [`INTERVAL`] until shutdown. It runs on its own, so
/// a slow reconciliation never lets it lapse: other instances take a lapsed owner's rounds.
pub async fn keep_alive(state: AppState, redis: Arc<RedisStock>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // A clean stop hands this instance's rounds and units over at once.
                redis.retry_unsettled(&state.gate).await;
                if let Err(e) = redis.forget_instance(redis.instance()).await {
                    tracing::warn!(error = %e, "Failed to sign this instance off in Redis");
                }
                return;
            }
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
        redis.retry_unsettled(&state.gate).await;
        reconcile_once(&state, &redis).await;
    }
}
