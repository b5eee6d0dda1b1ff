//! Where notifications go: the channel trait, what one notification carries, and the
//! log and null channels (the webhook lives in `webhook.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::ids::{ProductId, UserId};

/// One notification, as the recipient system receives it.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    /// The restocked product.
    pub product_id: ProductId,
    /// The round number.
    pub round: i64,
    /// The user to notify.
    pub user_id: UserId,
    /// 1-based place within the round.
    pub position: i64,
    /// The product's name (shared by every notification of a round).
    #[serde(serialize_with = "as_str")]
    pub product_name: Arc<str>,
    /// When this attempt started.
    pub sent_at: DateTime<Utc>,
}

fn as_str<S: serde::Serializer>(name: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name)
}

impl Notification {
    /// The key a recipient uses to drop repeats: `<product>-<round>-<user>`.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}-{}", self.product_id, self.round, self.user_id)
    }
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again (429, 5xx, timeout, refused connection).
    #[error("{reason}")]
    Retryable {
        /// What happened, for the round's error text.
        reason: String,
        /// How long the provider asked us to wait (Retry-After).
        retry_after: Option<Duration>,
    },
    /// Trying again cannot help (any other 4xx).
    #[error("{0}")]
    Permanent(String),
}

/// A way to deliver notifications.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Delivers one notification; Ok means the recipient system accepted it.
    async fn send(&self, notification: &Notification) -> Result<(), SendError>;
}

/// Writes one JSON line per notification to the log (when no webhook is configured).
#[derive(Debug, Default)]
pub struct LogChannel;

#[async_trait]
impl Channel for LogChannel {
    async fn send(&self, notification: &Notification) -> Result<(), SendError> {
        let line = serde_json::to_string(notification)
            .map_err(|e| SendError::Permanent(format!("cannot encode notification: {e}")))?;
        tracing::info!(target: "dropline::notification", idempotency_key = %notification.idempotency_key(), "{line}");
        Ok(())
    }
}

/// Accepts everything and does nothing (benchmarks of the engine itself).
#[derive(Debug, Default)]
pub struct NullChannel;

#[async_trait]
impl Channel for NullChannel {
    async fn send(&self, _notification: &Notification) -> Result<(), SendError> {
        Ok(())
    }
}
