//! Coordination between instances through Redis: one notification schedule and one stock gate
//! for all of them. Without a Redis URL none of this runs and everything stays in-process.

pub mod product_feed;
pub mod schedule;
pub mod stock;
mod stock_scripts;
pub mod worker;

use anyhow::Context;
use rand::Rng;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

use crate::config::RedisSettings;
use stock::RedisStock;

/// A connection to the shared Redis and this instance's identity there.
#[derive(Clone)]
pub struct Shared {
    /// For pub/sub, which needs a connection of its own.
    pub client: redis::Client,
    /// Multiplexed, reconnecting connection for scripts.
    pub conn: ConnectionManager,
    /// Key prefix.
    pub prefix: String,
    /// This instance's name.
    pub instance: String,
}

impl Shared {
    /// Connects when a Redis URL is configured.
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        let Some(url) = settings.url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let client = redis::Client::open(url).context("Failed to parse the Redis URL")?;
        // A burst queues thousands of scripts on one multiplexed connection: allow for it.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(5)));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .context("Failed to connect to Redis")?;
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
        Ok(Some(Self {
            client,
            conn,
            prefix: settings.prefix.clone(),
            instance,
        }))
    }

    /// The notification schedule every instance shares.
    pub fn schedule(&self, rate: u32) -> schedule::RedisSchedule {
        schedule::RedisSchedule::new(
            self.conn.clone(),
            format!("{{{}:rate}}:notify-schedule", self.prefix),
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
