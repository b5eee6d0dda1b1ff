//! Settings of the notification engine, from flags and `DROPLINE_NOTIFY_*` variables.

use clap::Args;

use crate::secret::Secret;

/// How restock notifications are sent.
#[derive(Debug, Clone, Args)]
pub struct NotifySettings {
    /// Webhook that receives each notification as a JSON POST; unset: one log line each.
    #[arg(long, env = "DROPLINE_NOTIFY_URL", hide_env_values = true)]
    pub notify_url: Option<String>,
    /// Signing secrets (`whsec_` + base64 of 24..=64 bytes, several separated by spaces while
    /// rotating); when set every notification is signed per Standard Webhooks.
    #[arg(long, env = "DROPLINE_NOTIFY_SECRET", hide_env_values = true)]
    pub notify_secret: Option<Secret>,
    /// Most notification requests (retries included) started in any sliding second,
    /// across all products. 0 turns the limit off (benchmarks only).
    #[arg(long, env = "DROPLINE_NOTIFY_RATE", default_value_t = 500)]
    pub notify_rate: u32,
    /// Most notification requests in flight at once.
    #[arg(long, env = "DROPLINE_NOTIFY_CONCURRENCY", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub notify_concurrency: u32,
    /// Per-request timeout towards the webhook, in milliseconds.
    #[arg(long, env = "DROPLINE_NOTIFY_TIMEOUT_MS", default_value_t = 10_000)]
    pub notify_timeout_ms: u64,
    /// Retries of one notification (429, 5xx, timeouts, refused connections) before the
    /// round stops with CANCELED_BY_ERROR.
    #[arg(long, env = "DROPLINE_NOTIFY_MAX_RETRIES", default_value_t = 5)]
    pub notify_max_retries: u32,
    /// Base retry delay in milliseconds: retry n waits a random time up to base × 2^(n-1)
    /// (full jitter), and at least what `Retry-After` asks.
    #[arg(long, env = "DROPLINE_NOTIFY_BACKOFF_MS", default_value_t = 200)]
    pub notify_backoff_ms: u64,
    /// Longest wait before one retry, in milliseconds, also when `Retry-After` asks for more.
    #[arg(long, env = "DROPLINE_NOTIFY_BACKOFF_MAX_MS", default_value_t = 30_000)]
    pub notify_backoff_max_ms: u64,
    /// How long an instance's hold on a running round lasts without renewal, in seconds;
    /// after that another instance (or a restart) takes the round over.
    #[arg(long, env = "DROPLINE_NOTIFY_LEASE_SECONDS", default_value_t = 30)]
    pub notify_lease_seconds: u64,
    /// Days the delivery log keeps each attempt at a notification; older ones are swept.
    #[arg(long, env = "DROPLINE_DELIVERY_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub delivery_retention_days: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            notify_url: None,
            notify_secret: None,
            notify_rate: 500,
            notify_concurrency: 64,
            notify_timeout_ms: 10_000,
            notify_max_retries: 5,
            notify_backoff_ms: 200,
            notify_backoff_max_ms: 30_000,
            notify_lease_seconds: 30,
            delivery_retention_days: 30,
        }
    }
}
