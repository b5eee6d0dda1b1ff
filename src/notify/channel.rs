//! Where notifications go: the channel trait, what one notification carries, and the
//! log and null channels (the webhook lives in `webhook.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::draws::Win;
use crate::domain::ids::{ProductId, UserId};

/// One notification, as the recipient system receives it: its body carries `kind`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// A restock alert of a round.
    Restock(RestockAlert),
    /// A draw's win (or a waitlist promotion): the winner's order is RESERVED.
    DrawWon(DrawWon),
}

/// The body of a restock alert (with `"kind": "restock"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestockAlert {
    /// The restocked product.
    pub product_id: ProductId,
    /// The round number.
    pub round: i64,
    /// The user to notify.
    pub user_id: UserId,
    /// 1-based place within the round.
    pub position: i64,
    /// The product's name (shared by every notification of a round).
    #[serde(serialize_with = "as_str", deserialize_with = "arc_str")]
    pub product_name: Arc<str>,
    /// When this attempt started.
    pub sent_at: DateTime<Utc>,
    /// Until when the unit set aside for the user is theirs (claim rounds); None in
    /// broadcast rounds.
    pub claim_expires_at: Option<DateTime<Utc>>,
}

fn as_str<S: serde::Serializer>(name: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(name)
}

fn arc_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    String::deserialize(d).map(Arc::from)
}

/// The body of a win notification (with `"kind": "draw_won"`): the product, the winner, the
/// winner's RESERVED order, its units and when its payment hold ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrawWon {
    /// The win.
    #[serde(flatten)]
    pub win: Win,
    /// When this attempt started.
    pub sent_at: DateTime<Utc>,
}

impl Notification {
    /// The key a recipient uses to drop repeats: `<product>-<round>-<user>` for a restock
    /// alert, `draw-<product>-<order>` for a win.
    pub fn idempotency_key(&self) -> String {
        match self {
            Self::Restock(n) => format!("{}-{}-{}", n.product_id, n.round, n.user_id),
            Self::DrawWon(n) => format!("draw-{}-{}", n.win.product_id, n.win.order_id),
        }
    }

    /// The same notification as a new attempt would send it, started at `at`.
    pub fn restarted(mut self, at: DateTime<Utc>) -> Self {
        match &mut self {
            Self::Restock(n) => n.sent_at = at,
            Self::DrawWon(n) => n.sent_at = at,
        }
        self
    }

    /// When this attempt started.
    pub fn sent_at(&self) -> DateTime<Utc> {
        match self {
            Self::Restock(n) => n.sent_at,
            Self::DrawWon(n) => n.sent_at,
        }
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
        /// The provider's HTTP status, when it answered.
        status: Option<u16>,
    },
    /// Trying again cannot help (any other 4xx).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// The provider's HTTP status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Retryable { status, .. } => *status,
            Self::Permanent(reason) => reason
                .strip_prefix("the provider answered ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse().ok()),
        }
    }
}

/// A way to deliver notifications.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Delivers one notification; Ok means the recipient system accepted it, with the HTTP
    /// status it answered when it is reached over HTTP.
    async fn send(&self, notification: &Notification) -> Result<Option<u16>, SendError>;
}

/// Writes one JSON line per notification to the log (when no webhook is configured).
#[derive(Debug, Default)]
pub struct LogChannel;

#[async_trait]
impl Channel for LogChannel {
    async fn send(&self, notification: &Notification) -> Result<Option<u16>, SendError> {
        let line = serde_json::to_string(notification)
            .map_err(|e| SendError::Permanent(format!("cannot encode notification: {e}")))?;
        tracing::info!(target: "dropline::notification", idempotency_key = %notification.idempotency_key(), "{line}");
        Ok(None)
    }
}

/// Accepts everything and does nothing (benchmarks of the engine itself).
#[derive(Debug, Default)]
pub struct NullChannel;

#[async_trait]
impl Channel for NullChannel {
    async fn send(&self, _notification: &Notification) -> Result<Option<u16>, SendError> {
        Ok(None)
    }
}
