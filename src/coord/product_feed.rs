//! The product change feed between instances: each publishes the products its writes changed
//! (and a heartbeat) on one pub/sub channel, and drops the entries others announce from its
//! copy of products (`store::cache`).
//!
//! Messages are `<origin> <product> <product> …`, `<origin> *` for "anything may have
//! changed", and `<origin>` alone for a heartbeat. Hearing the feed, its own heartbeat
//! included, is what lets the copy serve: a lost subscription empties it, and reads go to the
//! database until the feed is back. Plain PUBLISH reaches subscribers on every node of a
//! Redis Cluster, so one subscription to any node carries it.

use super::pubsub::{Heard, next_heard};
use rand::Rng;
use redis::aio::ConnectionManager;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::domain::ids::ProductId;
use crate::store::cache::{Change, ProductCache};

/// How often an instance publishes a heartbeat (well inside `cache::FEED_SILENCE`).
pub const HEARTBEAT: Duration = Duration::from_millis(200);

/// Longest a stopping instance waits to publish its last changes.
const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// Past this many products changed at once, one message says "anything may have changed".
const MAX_IDS: usize = 500;

/// The pub/sub channel of product changes of the database `namespace` names.
pub fn channel(namespace: &str) -> String {
    format!("{namespace}:product-changes")
}

/// One instance's side of the feed: its copy of products and the changes its writes made.
pub struct ProductFeed {
    cache: Arc<ProductCache>,
    changes: UnboundedReceiver<Change>,
    /// Tells this process' own messages apart (their changes were applied when made).
    origin: String,
}

impl ProductFeed {
    /// The feed of `cache`, whose writes come out of `changes`.
    pub fn new(cache: Arc<ProductCache>, changes: UnboundedReceiver<Change>) -> Self {
        Self {
            cache,
            changes,
            origin: format!("{:016x}", rand::rng().random::<u64>()),
        }
    }

    /// Publishes and follows the feed of the database `namespace` names, on Redis `client`,
    /// until `shutdown`.
    pub fn spawn(
        self,
        tasks: &TaskTracker,
        client: redis::Client,
        namespace: &str,
        shutdown: &CancellationToken,
    ) {
        let channel = channel(namespace);
        tasks.spawn(follow(
            self.cache,
            client.clone(),
            channel.clone(),
            self.origin.clone(),
            shutdown.clone(),
        ));
        tasks.spawn(publish(
            client,
            channel,
            self.origin,
            self.changes,
            shutdown.clone(),
        ));
    }
}

/// Changes not yet published, merged.
#[derive(Default)]
struct Pending {
    products: BTreeSet<ProductId>,
    all: bool,
}

impl Pending {
    fn add(&mut self, change: Change) {
        match change {
            Change::Product(p) => self.products.insert(p),
            Change::All => std::mem::replace(&mut self.all, true),
        };
        if self.products.len() > MAX_IDS {
            self.all = true;
        }
    }

    fn is_empty(&self) -> bool {
        !self.all && self.products.is_empty()
    }

    fn message(&self, origin: &str) -> String {
        if self.all {
            return format!("{origin} *");
        }
        let mut m = origin.to_owned();
        for p in &self.products {
            m.push(' ');
            m.push_str(&p.to_string());
        }
        m
    }
}

/// Publishes this instance's changes as they come, batched, and a heartbeat every
/// [`HEARTBEAT`]; a change that cannot be published is kept and tried again.
async fn publish(
    client: redis::Client,
    channel: String,
    origin: String,
    mut changes: UnboundedReceiver<Change>,
    shutdown: CancellationToken,
) {
    let mut conn: Option<ConnectionManager> = None;
    let mut pending = Pending::default();
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        let mut beat_due = false;
        tokio::select! {
            () = shutdown.cancelled() => {
                flush(&client, &mut conn, &channel, &origin, &mut changes, pending).await;
                return;
            }
            got = changes.recv() => match got {
                Some(c) => pending.add(c),
                None => return,
            },
            _ = beat.tick() => beat_due = true,
        }
        while let Ok(c) = changes.try_recv() {
            pending.add(c);
        }
        if pending.is_empty() && !beat_due {
            continue;
        }
        match send(&client, &mut conn, &channel, &pending.message(&origin)).await {
            Ok(()) => {
                pending = Pending::default();
                failing = false;
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "Failed to publish product changes; retrying");
                }
                failing = true;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(HEARTBEAT) => {}
                }
            }
        }
    }
}

/// At shutdown: publishes what is still waiting, once, without holding the stop up for long.
/// Writes that land after it are bounded by `cache::ENTRY_TTL` on the other instances.
async fn flush(
    client: &redis::Client,
    conn: &mut Option<ConnectionManager>,
    channel: &str,
    origin: &str,
    changes: &mut UnboundedReceiver<Change>,
    mut pending: Pending,
) {
    while let Ok(c) = changes.try_recv() {
        pending.add(c);
    }
    if pending.is_empty() {
        return;
    }
    let message = pending.message(origin);
    match tokio::time::timeout(FLUSH_WAIT, send(client, conn, channel, &message)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "Failed to publish the last product changes"),
        Err(_) => tracing::warn!("Timed out publishing the last product changes"),
    }
}

async fn send(
    client: &redis::Client,
    conn: &mut Option<ConnectionManager>,
    channel: &str,
    message: &str,
) -> redis::RedisResult<()> {
    let c = match conn {
        Some(c) => c,
        None => conn.insert(ConnectionManager::new(client.clone()).await?),
    };
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(message)
        .query_async(c)
        .await?;
    Ok(())
}

/// Follows the feed into `cache`, subscribing again after any loss; while not subscribed the
/// copy serves nothing.
async fn follow(
    cache: Arc<ProductCache>,
    client: redis::Client,
    channel: String,
    origin: String,
    shutdown: CancellationToken,
) {
    let mut backoff = Duration::from_millis(50);
    while !shutdown.is_cancelled() {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => {
                    backoff = Duration::from_millis(50);
                    let mut messages = pubsub.on_message();
                    loop {
                        match next_heard(&mut messages, &shutdown).await {
                            Heard::Payload(payload) => {
                                cache.heard();
                                apply(&cache, &origin, &payload);
                            }
                            Heard::Ended => break,
                            Heard::Shutdown => return,
                        }
                    }
                    tracing::warn!("product change subscription ended; subscribing again");
                }
                Err(e) => tracing::warn!(error = %e, "Failed to subscribe to product changes"),
            },
            Err(e) => tracing::warn!(error = %e, "Failed to connect for product changes"),
        }
        cache.feed_lost();
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Drops what another instance's message says changed.
fn apply(cache: &ProductCache, origin: &str, payload: &str) {
    let mut parts = payload.split(' ');
    if parts.next() == Some(origin) {
        return;
    }
    for part in parts {
        if part == "*" {
            cache.invalidate_all();
        } else if let Some(p) = part
            .parse::<i64>()
            .ok()
            .and_then(|id| ProductId::try_from(id).ok())
        {
            cache.invalidate(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cache::Lookup;

    #[test]
    fn messages_name_the_changed_products_or_everything() {
        let mut pending = Pending::default();
        assert!(pending.is_empty());
        pending.add(Change::Product(ProductId::from_db(7)));
        pending.add(Change::Product(ProductId::from_db(3)));
        pending.add(Change::Product(ProductId::from_db(7)));
        assert_eq!(pending.message("o"), "o 3 7");
        pending.add(Change::All);
        assert_eq!(pending.message("o"), "o *");
        let mut many = Pending::default();
        for i in 1..=(MAX_IDS as i64 + 1) {
            many.add(Change::Product(ProductId::from_db(i)));
        }
        assert_eq!(many.message("o"), "o *");
    }

    #[test]
    fn another_instances_message_drops_its_products_and_ours_is_skipped() {
        let cache = ProductCache::local();
        let p = ProductId::from_db(3);
        let Lookup::Miss(t) = cache.get(p) else {
            panic!("empty copy")
        };
        apply(&cache, "me", "me 3");
        // Our own message changed nothing: the read in flight is still kept.
        let product = crate::domain::product::Product {
            id: p,
            name: "Tent".into(),
            brand_ids: vec![],
            price: 1,
            stock: 1,
            restock_round: 0,
            sale_starts_at: None,
            sale_ends_at: None,
            per_user_limit: 1,
            hold_seconds: 5,
            line_policy: Default::default(),
            sale_mode: Default::default(),
            draw_seed_hash: None,
            alert: Default::default(),
            queue: Default::default(),
            queue_seed_hash: None,
            queue_seed: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            updated_at: chrono::DateTime::UNIX_EPOCH,
        };
        cache.fill(t, &product);
        assert!(matches!(cache.get(p), Lookup::Hit(_)));
        apply(&cache, "me", "other 3 x -1");
        assert!(matches!(cache.get(p), Lookup::Miss(_)));
    }
}
