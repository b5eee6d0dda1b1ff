//! The one connection type every part of the coordination uses: a reconnecting connection to
//! a standalone Redis, or a cluster connection that follows MOVED/ASK redirects and reconnects
//! to the nodes it learns from the cluster itself.
//!
//! `DROPLINE_REDIS_URL` names a standalone Redis or any node(s) of a Redis Cluster
//! (`redis://a:6379,redis://b:6379`, or `redis://a:6379,b:6379`): which of the two it is,
//! is asked of the server (`INFO cluster`). `rediss://` connects over TLS, checked against the
//! system roots or the CA in `DROPLINE_REDIS_CA_FILE`. A user and password in the first URL
//! apply to every node.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::sync::Arc;

/// A connection to the shared Redis, standalone or cluster; cheap to clone (multiplexed).
#[derive(Clone)]
pub enum RedisConn {
    /// One server, reconnecting in the background.
    Single(Arc<Single>),
    /// A Redis Cluster, routed by key slot.
    Cluster(ClusterConnection),
}

impl From<ConnectionManager> for RedisConn {
    fn from(c: ConnectionManager) -> Self {
        Self::Single(Arc::new(Single {
            client: None,
            config: ConnectionManagerConfig::new(),
            current: std::sync::Mutex::new((0, Some(c))),
            rebuild: tokio::sync::Mutex::new(()),
        }))
    }
}

/// A reconnecting connection to one server that also recovers from refused credentials.
///
/// The connection manager reconnects after I/O errors only: once a reconnection is refused
/// (a password rotated, then rotated back) it would answer that refusal forever. Here a
/// refusal drops the manager, and the next command builds a new one.
pub struct Single {
    /// None for a manager handed in from outside (it is then never rebuilt).
    client: Option<redis::Client>,
    config: ConnectionManagerConfig,
    /// The current manager and its generation, so a stale refusal never drops a newer one.
    current: std::sync::Mutex<(u64, Option<ConnectionManager>)>,
    /// One rebuild at a time; the others wait for it and use its manager.
    rebuild: tokio::sync::Mutex<()>,
}

impl Single {
    /// A connection to `client`'s server, made on first use.
    pub(super) fn new(client: redis::Client, config: ConnectionManagerConfig) -> Self {
        Self {
            client: Some(client),
            config,
            current: std::sync::Mutex::new((0, None)),
            rebuild: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> (u64, Option<ConnectionManager>) {
        let guard = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        (guard.0, guard.1.clone())
    }

    pub(super) async fn manager(&self) -> redis::RedisResult<(u64, ConnectionManager)> {
        if let (generation, Some(m)) = self.current() {
            return Ok((generation, m));
        }
        let _one = self.rebuild.lock().await;
        if let (generation, Some(m)) = self.current() {
            return Ok((generation, m));
        }
        let Some(client) = &self.client else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the Redis connection was dropped",
            )));
        };
        let m = ConnectionManager::new_with_config(client.clone(), self.config.clone()).await?;
        let mut guard = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.0 += 1;
        guard.1 = Some(m.clone());
        Ok((guard.0, m))
    }

    /// Drops the manager of `generation` when Redis refused this client's credentials.
    fn check(&self, generation: u64, e: &redis::RedisError) {
        if self.client.is_none() || !is_refusal(e) {
            return;
        }
        let mut guard = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if guard.0 == generation {
            guard.1 = None;
        }
    }
}

/// Whether Redis refused the credentials (or demands some).
pub(super) fn is_refusal(e: &redis::RedisError) -> bool {
    let upper = e.to_string().to_uppercase();
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || upper.contains("WRONGPASS")
        || upper.contains("NOAUTH")
}

impl From<ClusterConnection> for RedisConn {
    fn from(c: ClusterConnection) -> Self {
        Self::Cluster(c)
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(s) => Box::pin(async move {
                let (generation, mut m) = s.manager().await?;
                let r = m.req_packed_command(cmd).await;
                if let Err(e) = &r {
                    s.check(generation, e);
                }
                r
            }),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(s) => Box::pin(async move {
                let (generation, mut m) = s.manager().await?;
                let r = m.req_packed_commands(pipeline, offset, count).await;
                if let Err(e) = &r {
                    s.check(generation, e);
                }
                r
            }),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(s) => s.current().1.map_or(0, |m| m.get_db()),
            Self::Cluster(c) => c.get_db(),
        }
    }
}
