//! Where the shared Redis is and how to reach it: the configured URL list (standalone, any
//! node(s) of a cluster, `rediss://` with the system roots or a CA file, credentials), the
//! connect that asks the server which of the two it is, and the sentences that name why a
//! connection failed.

use anyhow::Context;
use redis::TlsCertificates;
use redis::aio::ConnectionManagerConfig;
use redis::cluster::ClusterClientBuilder;
use std::sync::Arc;
use std::time::Duration;

use super::conn::{RedisConn, Single, is_refusal};
use crate::config::RedisSettings;

/// Where the shared Redis is, as configured.
#[derive(Clone)]
pub struct Target {
    /// The configured URLs, credentials completed from the first one.
    seeds: Vec<String>,
    /// The CA certificate (PEM) for `rediss://`, when not the system roots.
    ca: Option<Vec<u8>>,
    /// Most time one command may take, redirects and retries included.
    pub response_timeout: Duration,
    /// Most time one connection attempt may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl Target {
    /// Parses the settings: the URL list and the CA file, without connecting.
    pub fn from_settings(settings: &RedisSettings) -> anyhow::Result<Option<Self>> {
        let Some(raw) = settings.url.as_deref().filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let seeds = parse_seeds(raw)?;
        let ca = match settings.ca_file.as_deref().filter(|p| !p.is_empty()) {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("Failed to read DROPLINE_REDIS_CA_FILE ({path})"))?,
            ),
            None => None,
        };
        if ca.is_some() && !seeds.iter().all(|s| s.starts_with("rediss://")) {
            anyhow::bail!(
                "DROPLINE_REDIS_CA_FILE is set but DROPLINE_REDIS_URL does not use TLS \
                 (rediss://)"
            );
        }
        Ok(Some(Self {
            seeds,
            ca,
            response_timeout: Duration::from_millis(settings.timeout_ms),
            connect_timeout: Duration::from_millis(settings.connect_timeout_ms),
        }))
    }

    /// The nodes as `host:port`, without credentials: safe to log.
    pub fn display(&self) -> String {
        self.seeds
            .iter()
            .map(|s| redact(s))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client for one node URL, with this target's TLS roots.
    pub fn client_for(&self, url: &str) -> redis::RedisResult<redis::Client> {
        match &self.ca {
            Some(ca) => redis::Client::build_with_tls(
                url,
                TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                },
            ),
            None => redis::Client::open(url),
        }
    }

    /// Asks the first node that answers whether it is part of a Redis Cluster.
    async fn is_cluster(&self) -> anyhow::Result<bool> {
        let mut last = None;
        for seed in &self.seeds {
            match self.info_cluster(seed).await {
                Ok(info) => return Ok(info.lines().any(|l| l.trim() == "cluster_enabled:1")),
                Err(e) => last = Some((redact(seed), e)),
            }
        }
        match last {
            Some((node, e)) => Err(anyhow::anyhow!(
                "Redis at {node} is not usable: {}",
                explain(&e)
            )),
            None => Err(anyhow::anyhow!("DROPLINE_REDIS_URL names no Redis node")),
        }
    }

    async fn info_cluster(&self, url: &str) -> redis::RedisResult<String> {
        let client = self.client_for(url)?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.response_timeout));
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut conn)
            .await
    }

    /// Connects: a cluster connection when the server is part of a cluster, else one
    /// reconnecting connection. Answers the connection and whether it is a cluster.
    pub async fn connect(&self) -> anyhow::Result<(RedisConn, bool)> {
        if self.is_cluster().await? {
            let mut builder = ClusterClientBuilder::new(self.seeds.clone())
                .connection_timeout(self.connect_timeout)
                .response_timeout(self.response_timeout)
                .overall_response_timeout(Some(self.response_timeout))
                .retries(4)
                .min_retry_wait(10)
                .max_retry_wait(500);
            if let Some(ca) = &self.ca {
                builder = builder.certs(TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone()),
                });
            }
            let client = builder
                .build()
                .context("Failed to configure the Redis Cluster client")?;
            let conn = client.get_async_connection().await.map_err(|e| {
                anyhow::anyhow!(
                    "Redis Cluster at {} is not usable: {}",
                    self.display(),
                    explain(&e)
                )
            })?;
            Ok((RedisConn::Cluster(conn), true))
        } else {
            let client = self
                .client_for(&self.seeds[0])
                .context("Failed to parse the Redis URL")?;
            // A burst queues thousands of scripts on one multiplexed connection: allow for it.
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(self.response_timeout))
                .set_connection_timeout(Some(self.connect_timeout))
                .set_number_of_retries(3);
            let single = Arc::new(Single::new(client, config));
            single.manager().await.map_err(|e| {
                anyhow::anyhow!(
                    "Redis at {} is not usable: {}",
                    redact(&self.seeds[0]),
                    explain(&e)
                )
            })?;
            Ok((RedisConn::Single(single), false))
        }
    }

    /// A client for each node: the configured ones and, in a cluster, every node it lists.
    /// Pub/sub uses them (a plain PUBLISH reaches every node of a cluster), and so do
    /// operators' tools that must visit every node.
    pub async fn node_clients(&self, conn: &RedisConn) -> Vec<redis::Client> {
        let mut urls = self.seeds.clone();
        if let RedisConn::Cluster(c) = conn {
            let mut c = c.clone();
            let nodes: redis::RedisResult<String> =
                redis::cmd("CLUSTER").arg("NODES").query_async(&mut c).await;
            if let Ok(nodes) = nodes {
                for addr in cluster_node_addrs(&nodes) {
                    if let Some(url) = with_addr(&self.seeds[0], &addr)
                        && !urls.contains(&url)
                    {
                        urls.push(url);
                    }
                }
            }
        }
        urls.iter()
            .filter_map(|u| self.client_for(u).ok())
            .collect()
    }
}

/// Splits `redis://a:1,b:2` or `redis://a:1,redis://b:2` into full URLs; nodes without a
/// scheme or credentials take the first one's.
fn parse_seeds(raw: &str) -> anyhow::Result<Vec<String>> {
    let parts: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let first = parts
        .first()
        .context("DROPLINE_REDIS_URL names no Redis node")?;
    let first_url = url::Url::parse(first).context("Failed to parse DROPLINE_REDIS_URL")?;
    anyhow::ensure!(
        matches!(first_url.scheme(), "redis" | "rediss"),
        "DROPLINE_REDIS_URL must start with redis:// or rediss://"
    );
    let mut seeds = vec![(*first).to_owned()];
    for part in &parts[1..] {
        let url = if part.contains("://") {
            let mut u = url::Url::parse(part).context("Failed to parse DROPLINE_REDIS_URL")?;
            anyhow::ensure!(
                u.scheme() == first_url.scheme(),
                "every node of DROPLINE_REDIS_URL must use the same scheme"
            );
            if u.username().is_empty() && u.password().is_none() {
                let _ = u.set_username(first_url.username());
                let _ = u.set_password(first_url.password());
            }
            u.to_string()
        } else {
            with_addr(first, part).context("Failed to parse a node of DROPLINE_REDIS_URL")?
        };
        seeds.push(url);
    }
    Ok(seeds)
}

/// `template` (scheme, credentials, database) pointed at `host:port`.
fn with_addr(template: &str, addr: &str) -> Option<String> {
    let mut u = url::Url::parse(template).ok()?;
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    u.set_host(Some(host.trim_start_matches('[').trim_end_matches(']')))
        .ok()?;
    u.set_port(Some(port)).ok()?;
    Some(u.to_string())
}

/// The `host:port` of every node in a `CLUSTER NODES` answer.
fn cluster_node_addrs(nodes: &str) -> Vec<String> {
    nodes
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter_map(|a| a.split('@').next())
        .filter(|a| !a.starts_with(':'))
        .map(str::to_owned)
        .collect()
}

/// A URL without its credentials.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or("?"),
            u.port().unwrap_or(6379)
        ),
        Err(_) => "(unparsable URL)".to_owned(),
    }
}

/// A Redis error with what it most likely means for an operator.
pub fn explain(e: &redis::RedisError) -> String {
    let text = e.to_string();
    let upper = text.to_uppercase();
    let hint = if is_refusal(e)
        || upper.contains("INVALID PASSWORD")
        || upper.contains("CALLED WITHOUT ANY PASSWORD")
    {
        "the user or password in DROPLINE_REDIS_URL was refused"
    } else if upper.contains("CLUSTERDOWN") {
        "the Redis Cluster is down (not every hash slot is served)"
    } else if e.kind() == redis::ErrorKind::ClusterConnectionNotFound {
        "the Redis Cluster is down (no reachable node serves the key's slot)"
    } else if upper.contains("CROSSSLOT") {
        "a script's keys are in different cluster slots"
    } else if upper.contains("CERTIFICATE") || upper.contains("TLS") || upper.contains("HANDSHAKE")
    {
        "the TLS handshake failed (is DROPLINE_REDIS_CA_FILE the CA that signed the server's \
         certificate, and is the URL rediss://?)"
    } else if e.is_connection_refusal() || e.is_timeout() || e.is_io_error() {
        "Redis cannot be reached"
    } else {
        "Redis refused the request"
    };
    format!("{hint}: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_take_the_first_nodes_scheme_and_credentials() {
        let seeds = parse_seeds("rediss://u:p@10.0.0.1:7000, 10.0.0.2:7001,rediss://10.0.0.3:7002")
            .unwrap();
        assert_eq!(
            seeds,
            vec![
                "rediss://u:p@10.0.0.1:7000".to_owned(),
                "rediss://u:p@10.0.0.2:7001".to_owned(),
                "rediss://u:p@10.0.0.3:7002".to_owned(),
            ]
        );
        assert!(parse_seeds("http://x:1").is_err());
        assert!(parse_seeds("redis://a:1,rediss://b:2").is_err());
        assert_eq!(redact(&seeds[0]), "rediss://10.0.0.1:7000");
    }

    #[test]
    fn cluster_nodes_lists_every_address() {
        let nodes = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922\n\
                     c3 :0@0 master,noaddr - 0 0 3 disconnected\n";
        assert_eq!(
            cluster_node_addrs(nodes),
            vec!["127.0.0.1:7000".to_owned(), "127.0.0.1:7001".to_owned()]
        );
    }
}
