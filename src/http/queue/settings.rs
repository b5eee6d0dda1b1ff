//! The `queue` object of a product: how a create or PATCH body sets it, and how a product
//! read shows it with the room's seed hash and, once the sale started, the seed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::ValidationError;
use crate::domain::draws::SaleMode;
use crate::domain::product::Product;
use crate::domain::queue::QueueSettings;

/// The `queue` object of `POST /products` and `PATCH /products/{id}`: absent fields keep
/// their value (on creation: the defaults).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = QueueSettingsBody, example = json!({"enabled": true, "admit_seconds": 120}))]
pub struct QueueBody {
    /// Whether buyers go through the waiting room; only for `first_come` products with a
    /// `sale_starts_at`. Cannot change once anyone joined (409 `queue_locked`).
    enabled: Option<bool>,
    /// When joining opens (RFC 3339, not after `sale_starts_at`); null or absent on
    /// creation: 15 minutes before `sale_starts_at`.
    #[serde(default, deserialize_with = "crate::http::extract::some_or_null")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    opens_at: Option<Option<DateTime<Utc>>>,
    /// How long an admission lasts, 30..=3600 (default 120).
    admit_seconds: Option<i64>,
    /// Most admissions a second, 1..=10000 (default 500).
    admit_rate: Option<i64>,
}

/// The queue settings of a body over `current`, checked against the product's sale mode
/// and start.
pub fn parse_queue(
    body: Option<QueueBody>,
    current: QueueSettings,
    mode: SaleMode,
    sale_starts_at: Option<DateTime<Utc>>,
) -> Result<QueueSettings, ValidationError> {
    let settings = match body {
        None => current,
        Some(b) => QueueSettings {
            enabled: b.enabled.unwrap_or(current.enabled),
            opens_at: b.opens_at.unwrap_or(current.opens_at),
            admit_seconds: b.admit_seconds.unwrap_or(current.admit_seconds),
            admit_rate: b.admit_rate.unwrap_or(current.admit_rate),
        },
    };
    settings.validate(mode, sale_starts_at)
}

/// A product's waiting room as clients see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QueueSettings, example = json!({"enabled": true,
    "opens_at": "2026-12-14T09:45:00Z", "admit_seconds": 120, "admit_rate": 500}))]
pub struct QueueView {
    enabled: bool,
    /// When joining opens; null without `sale_starts_at` and `opens_at`.
    #[schema(required = true)]
    opens_at: Option<DateTime<Utc>>,
    admit_seconds: i64,
    admit_rate: i64,
}

/// The room's part of a product read: settings, seed hash, and the seed once the sale started.
pub fn queue_view(
    p: &mut Product,
    now: DateTime<Utc>,
) -> (QueueView, Option<String>, Option<String>) {
    let view = QueueView {
        enabled: p.queue.enabled,
        opens_at: p.queue.opens_at(p.sale_starts_at),
        admit_seconds: p.queue.admit_seconds,
        admit_rate: p.queue.admit_rate,
    };
    let started = p.sale_starts_at.is_some_and(|s| s <= now);
    let seed = p.queue_seed.take().filter(|_| started);
    (view, p.queue_seed_hash.take(), seed)
}
