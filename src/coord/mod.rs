//! Coordination between instances through Redis: one notification schedule and one stock gate
//! for all of them. Without a Redis URL none of this runs and everything stays in-process.
//!
//! Redis may be standalone, a Redis Cluster, or behind TLS (see [`conn`]). Every key one
//! script touches shares one hash tag, so one cluster slot: `{<prefix>:<deployment>:p:<id>}`
//! for a product's counters, `{<prefix>:<deployment>}` for the heartbeats, `{<prefix>:rate}`
//! for the notification schedule. No script reads a key it was not given.

pub mod conn;
pub mod product_feed;
pub mod pubsub;
pub mod rate_schedule;
pub mod stock;
pub mod target;

use rand::Rng;
use std::sync::Arc;

use crate::config::RedisSettings;
use conn::RedisConn;
use stock::RedisStock;
use target::Target;

/// A connection to the shared Redis and this instance's identity there.
#[derive(Clone)]
pub struct Shared {
    /// Where Redis is, as configured.
    pub target: Target,
    /// Multiplexed, reconnecting connection for scripts (standalone or cluster).
    pub conn: RedisConn,
    /// Whether the server is a Redis Cluster.
    pub cluster: bool,
    /// Nodes to subscribe to for stock changes (pub/sub needs a connection of its own; in a
    /// cluster a PUBLISH reaches every node, so any of them will do), tried in turn.
    pub subscribe: Vec<redis::Client>,
    /// Key prefix.
    pub prefix: String,
    /// This instance's name.
    pub instance: String,
}

/// The notification schedule's key under `prefix` (its log is the same key plus `:log`).
pub fn schedule_key(prefix: &str) -> String {
    format!("{{{prefix}:rate}}:notify-schedule")
}

impl Shared {
    /// Connects when a Redis URL is configured. Fails with the cause when Redis cannot be
    /// reached or refuses this client (credentials, TLS, a cluster that is down).
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        let Some(target) = Target::from_settings(settings)? else {
            return Ok(None);
        };
        let instance = settings.instance_id.clone().unwrap_or_else(|| {
            let mut rng = rand::rng();
            (0..12)
                .map(|_| format!("{:x}", rng.random_range(0..16u8)))
                .collect()
        });
        // The id is also the owner recorded in a round's lease (a 64-character column).
        anyhow::ensure!(
            !instance.is_empty() && instance.len() <= 64,
            "The instance id must have 1 to 64 characters"
        );
        let (conn, cluster) = target.connect().await?;
        let subscribe = target.node_clients(&conn).await;
        tracing::info!(
            redis = %target.display(),
            mode = if cluster { "cluster" } else { "standalone" },
            "connected to Redis"
        );
        Ok(Some(Self {
            target,
            conn,
            cluster,
            subscribe,
            prefix: settings.prefix.clone(),
            instance,
        }))
    }

    /// The notification schedule every instance shares.
    pub fn schedule(&self, rate: u32) -> rate_schedule::RedisSchedule {
        rate_schedule::RedisSchedule::new(
            self.conn.clone(),
            schedule_key(&self.prefix),
            rate,
            &self.instance,
        )
    }

    /// The shared stock counters of the database `deployment`.
    pub fn stock(&self, deployment: &str) -> Arc<RedisStock> {
        Arc::new(RedisStock::new(
            self.conn.clone(),
            &self.prefix,
            deployment,
            &self.instance,
        ))
    }
}
