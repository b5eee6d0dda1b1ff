//! Restock rounds: the engine that notifies a product's line in order, at a strict global
//! rate, stopping the moment the stock sells out, and picking up where it left off.

pub mod channel;
mod claims;
mod deliver;
pub mod deliveries;
mod draw_won;
pub mod engine;
pub mod limiter;
mod line;
mod parts;
mod progress;
pub mod recovery;
mod replay;
mod retry;
mod round;
mod runner;
pub mod signing;
pub mod takeover;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

pub use engine::{Notifier, RoundWatch};
pub use parts::{EngineConfig, EngineParts};

use self::channel::{Channel, LogChannel};
use self::signing::SigningKeys;
use self::webhook::{WebhookChannel, WebhookError};
use crate::config::notify::NotifySettings;

/// The channel the settings ask for: the webhook when a URL is set, else the log. A signing
/// secret is checked either way, so a bad one is refused at start.
pub fn channel_from(settings: &NotifySettings) -> Result<Arc<dyn Channel>, WebhookError> {
    let keys = settings
        .notify_secret
        .as_ref()
        .map(|s| SigningKeys::parse(s.expose()))
        .transpose()?;
    match settings.notify_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => Ok(Arc::new(
            WebhookChannel::new(
                url,
                Duration::from_millis(settings.notify_timeout_ms.max(1)),
                settings.notify_concurrency as usize,
            )?
            .signed(keys),
        )),
        None => Ok(Arc::new(LogChannel)),
    }
}

/// The engine's tuning from the settings.
pub fn config_from(settings: &NotifySettings) -> EngineConfig {
    EngineConfig {
        concurrency: settings.notify_concurrency as usize,
        max_retries: settings.notify_max_retries,
        backoff: Duration::from_millis(settings.notify_backoff_ms),
        backoff_max: Duration::from_millis(settings.notify_backoff_max_ms),
        lease_ttl: Duration::from_secs(settings.notify_lease_seconds.max(1)),
        delivery_retention_days: settings.delivery_retention_days,
        ..EngineConfig::default()
    }
}
