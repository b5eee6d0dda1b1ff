//! The background side of the shared gate (`GateSync`): follow published changes, keep this instance's
//! heartbeat, and reconcile the shared counters with the database.

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::StockGate;
use crate::coord::pubsub::{Heard, next_heard};
use crate::coord::stock::{Reconciled, RedisStock};
use crate::domain::ids::ProductId;
use crate::store::Store;
use crate::ticks::Ticks;

/// The background side of a shared gate: the database, the local gate and its Redis.
#[derive(Clone)]
pub struct GateSync {
    /// The record of stock.
    pub store: Arc<dyn Store>,
    /// The local gate, which mirrors the shared counters.
    pub gate: Arc<StockGate>,
    /// The shared counters.
    pub redis: Arc<RedisStock>,
}

/// How often the heartbeat is renewed and the counters reconciled.
pub const INTERVAL: Duration = Duration::from_secs(3);

/// How often the health check runs the probe scripts.
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);

impl GateSync {
    /// Follows the stock-change channel into the local mirror, reconnecting after failures; each
    /// attempt goes to the next of `clients` (in a cluster, the nodes it listed).
    pub async fn follow_changes(self, clients: Vec<redis::Client>, shutdown: CancellationToken) {
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
                    if let Err(e) = pubsub.subscribe(self.redis.channel()).await {
                        tracing::warn!(error = %e, "Failed to subscribe to stock changes");
                    } else {
                        backoff = Duration::from_millis(100);
                        // Changes missed while (re)subscribing are picked up by a refresh.
                        self.resync().await;
                        self.redis.feed().subscribed();
                        self.redis.set_following(true);
                        let mut messages = pubsub.on_message();
                        loop {
                            match next_heard(&mut messages, &shutdown).await {
                                Heard::Payload(payload) => self.hear(&payload),
                                Heard::Ended => break,
                                Heard::Shutdown => return,
                            }
                        }
                        self.redis.set_following(false);
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

    /// Runs the readiness probe ([`RedisStock::probe`]) every [`HEALTH_INTERVAL`]. When it fails
    /// the gate stops being trusted (rounds wait instead of ending, `/readyz` answers 503); when
    /// it works again this instance renews its heartbeat, refreshes every counter and its
    /// mirror, reconciles, and only then trusts the gate again.
    pub async fn watch_health(self, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(HEALTH_INTERVAL, &shutdown);
        while ticks.next().await {
            match self.redis.probe().await {
                Ok(()) if !self.redis.following() => {
                    if self.gate.trusted() {
                        tracing::warn!(
                            "the stock-change subscription is down: the gate's mirror may be stale, /readyz answers 503"
                        );
                    }
                    self.gate.set_trusted(false);
                }
                Ok(()) if !self.gate.trusted() => {
                    // Counters first, then reconciliation (units a failed call could not return),
                    // then the mirror again from what reconciliation left: only then is a 0 true.
                    if self.redis.heartbeat().await.is_ok()
                        && self.resync().await
                        && self.reconcile_once().await.is_some()
                        && self.resync().await
                    {
                        self.gate.set_trusted(true);
                        tracing::info!(
                            "Redis is usable: the stock gate is trusted, /readyz is ready"
                        );
                    }
                }
                Ok(()) => {}
                Err(e) => {
                    if self.gate.trusted() {
                        tracing::error!(cause = %crate::coord::target::explain(&e),
                        "Redis is not usable: /readyz answers 503, orders answer 503, rounds wait");
                    }
                    self.gate.set_trusted(false);
                }
            }
        }
    }

    /// Loads every product's counter (keeping any that exist), mirrors the shared levels, and
    /// reconciles at once where Redis holds what the database never had (see `reconcile_once`).
    /// Answers whether every counter was loaded.
    pub async fn resync(&self) -> bool {
        match self.store.all_stock().await {
            Ok(all) => {
                let mut complete = true;
                for record in all {
                    let loaded = self.redis.load(record).await;
                    if let Ok((level, _)) = &loaded {
                        self.gate.mirror(*level);
                    }
                    match loaded {
                        Ok((_, seen)) if seen > record.version => {
                            tracing::warn!(product = %record.product, seen, db = record.version,
                            "the shared counter is ahead of the database; rebuilding it");
                            self.reconcile_product(record.product, None).await;
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
    pub async fn reconcile_once(&self) -> Option<usize> {
        let products = match self.store.all_stock().await {
            Ok(all) => all,
            Err(e) => {
                tracing::warn!(error = %e, "Failed to list products to reconcile");
                return None;
            }
        };
        let live = match self.redis.live_instances().await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "Failed to list live instances");
                return None;
            }
        };
        let mut changed = 0;
        for record in products {
            if matches!(
                self.reconcile_product(record.product, Some(&live)).await,
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
        &self,
        product: ProductId,
        live: Option<&[String]>,
    ) -> Option<Reconciled> {
        let live = match live {
            Some(l) => l.to_vec(),
            None => self.redis.live_instances().await.ok()?,
        };
        let version = self.redis.version(product).await.ok()?;
        let record = self.store.stock_of(product).await.ok()??;
        match self.redis.reconcile(record, version, &live).await {
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
    pub async fn keep_alive(self, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(INTERVAL, &shutdown);
        while ticks.next().await {
            if let Err(e) = self.redis.heartbeat().await {
                tracing::warn!(error = %e, "Failed to renew this instance's heartbeat");
            }
        }
        // A clean stop hands this instance's rounds and units over at once.
        self.gate.retry_unsettled().await;
        if let Err(e) = self.redis.forget_instance(self.redis.instance()).await {
            tracing::warn!(error = %e, "Failed to sign this instance off in Redis");
        }
    }

    /// Reconciliation, every [`INTERVAL`], until shutdown.
    pub async fn maintain(self, shutdown: CancellationToken) {
        let mut ticks = Ticks::new(INTERVAL, &shutdown);
        while ticks.next().await {
            self.gate.retry_unsettled().await;
            self.reconcile_once().await;
        }
    }
}
