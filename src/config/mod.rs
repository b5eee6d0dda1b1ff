//! Settings of a running service, from flags and `DROPLINE_*` environment variables.

pub mod notify;

pub use crate::secret::Secret;
use clap::builder::RangedU64ValueParser;
use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings, shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log format.
    #[arg(long, env = "DROPLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log level or filter directives (as in RUST_LOG).
    #[arg(
        long,
        env = "DROPLINE_LOG_LEVEL",
        default_value = "info",
        global = true
    )]
    pub log_level: String,
}

/// The database to use.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Database URL: sqlite://FILE?mode=rwc or mysql://USER:PASS@HOST:PORT/DB.
    #[arg(
        long,
        env = "DROPLINE_DATABASE_URL",
        default_value = "sqlite://dropline.db?mode=rwc",
        hide_env_values = true
    )]
    pub database_url: String,
    /// Most connections this instance opens to a MySQL or MariaDB database (the size of its
    /// pool); with several instances on one server, keep their sum under the server's
    /// max_connections. SQLite uses a small pool of its own.
    #[arg(
        long,
        env = "DROPLINE_DATABASE_MAX_CONNECTIONS",
        default_value_t = DEFAULT_MAX_CONNECTIONS,
        value_parser = clap::value_parser!(u32).range(2..=1000)
    )]
    pub database_max_connections: u32,
}

/// Everything `serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on: `host:port`, where host is an IP address or a name
    /// (`localhost:8080`, `[::1]:8080`).
    #[arg(long, env = "DROPLINE_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: String,
    /// Database settings.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// HS256 secret for tokens; when unset a random one is made for this run only.
    #[arg(long, env = "DROPLINE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    /// Several instances share Redis for the stock gate and the notification rate.
    #[command(flatten)]
    pub redis: RedisSettings,
    /// Restock notification settings.
    #[command(flatten)]
    pub notify: crate::config::notify::NotifySettings,
    /// Client connection timeouts.
    #[command(flatten)]
    pub http: HttpSettings,
}

/// How long a client connection may keep the server waiting.
#[derive(Debug, Clone, Args)]
pub struct HttpSettings {
    /// Most milliseconds a client may take to send a request's line and headers.
    #[arg(long, env = "DROPLINE_HEADER_READ_TIMEOUT_MS")]
    #[arg(default_value_t = 10_000, value_parser = millis())]
    pub header_read_timeout_ms: u64,
    /// Most milliseconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "DROPLINE_KEEP_ALIVE_TIMEOUT_MS")]
    #[arg(default_value_t = 75_000, value_parser = millis())]
    pub keep_alive_timeout_ms: u64,
    /// Most milliseconds a client may take to send a request's body, from the end of its
    /// head; a later body is answered 408 and its connection closed.
    #[arg(
        long,
        env = "DROPLINE_BODY_READ_TIMEOUT_MS",
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(100..=600_000)
    )]
    pub body_read_timeout_ms: u64,
    /// Browser origins allowed to call the API (comma-separated `scheme://host[:port]`, or
    /// `*` for any); none by default.
    #[arg(long, env = "DROPLINE_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            keep_alive_timeout_ms: 75_000,
            body_read_timeout_ms: 10_000,
            cors_origins: Vec::new(),
        }
    }
}

/// Coordination between instances; without a URL everything is in-process.
#[derive(Debug, Clone, Args)]
pub struct RedisSettings {
    /// Redis URL: redis://[USER:PASSWORD@]HOST:6379/, rediss:// for TLS, or nodes of a Redis
    /// Cluster separated by commas (cluster mode is detected from the server). When set,
    /// instances share one stock gate and one rate.
    #[arg(long = "redis-url", env = "DROPLINE_REDIS_URL", hide_env_values = true)]
    pub url: Option<String>,
    /// CA certificate (PEM file) that signed the Redis server's certificate, for rediss://
    /// with a private CA; the system roots when unset.
    #[arg(long = "redis-ca-file", env = "DROPLINE_REDIS_CA_FILE")]
    pub ca_file: Option<String>,
    /// Most milliseconds one Redis command may take (redirects and retries included).
    #[arg(long = "redis-timeout-ms", env = "DROPLINE_REDIS_TIMEOUT_MS")]
    #[arg(default_value_t = 5_000, value_parser = millis())]
    pub timeout_ms: u64,
    /// Most milliseconds one connection attempt to a Redis node may take.
    #[arg(
        long = "redis-connect-timeout-ms",
        env = "DROPLINE_REDIS_CONNECT_TIMEOUT_MS"
    )]
    #[arg(default_value_t = 5_000, value_parser = millis())]
    pub connect_timeout_ms: u64,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    #[arg(
        long = "redis-prefix",
        env = "DROPLINE_REDIS_PREFIX",
        default_value = "dropline"
    )]
    pub prefix: String,
    /// This instance's name in Redis (heartbeats, in-flight units); random when unset.
    #[arg(long = "instance-id", env = "DROPLINE_INSTANCE_ID")]
    pub instance_id: Option<String>,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            ca_file: None,
            timeout_ms: 5_000,
            connect_timeout_ms: 5_000,
            prefix: "dropline".to_owned(),
            instance_id: None,
        }
    }
}

impl Settings {
    /// Settings for an embedded test or demo run on `database_url`.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            database: DatabaseSettings {
                database_url: database_url.into(),
                database_max_connections: DEFAULT_MAX_CONNECTIONS,
            },
            jwt_secret: None,
            redis: RedisSettings::default(),
            notify: crate::config::notify::NotifySettings::default(),
            http: HttpSettings::default(),
        }
    }
}

/// Parses a count of milliseconds: a whole number, at least 1.
fn millis() -> RangedU64ValueParser {
    clap::value_parser!(u64).range(1..)
}

/// Accepts `host:port` with a numeric port; the host is resolved when binding.
fn parse_listen(value: &str) -> Result<String, String> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(value.to_owned())
        }
        _ => Err("expected host:port, e.g. 127.0.0.1:8080 or localhost:8080".to_owned()),
    }
}

/// The MySQL pool's size unless set.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 32;
