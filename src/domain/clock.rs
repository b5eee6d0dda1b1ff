//! The server's notion of "now", which tests can move forward without sleeping.

use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Wall-clock time plus an offset that only tests change.
///
/// The offset is an atomic so every clone (handlers, sweeper, engine) sees an advance at once.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The current time, in UTC, with millisecond precision (what storage keeps).
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed));
        from_millis(now.timestamp_millis())
    }

    /// Moves this clock (and all its clones) forward.
    pub fn advance(&self, by: std::time::Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Converts epoch milliseconds (the storage form of every timestamp) to a UTC time.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Years a time from a client may fall in: RFC 3339 writes four-digit years only, and
/// nothing here happens before the Unix epoch.
pub const CLIENT_YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Refuses a time from a client outside [`CLIENT_YEARS`] as a bad `field`.
pub fn check_client_time(
    field: &'static str,
    at: Option<DateTime<Utc>>,
) -> Result<(), crate::domain::ValidationError> {
    use chrono::Datelike;
    match at {
        Some(at) if !CLIENT_YEARS.contains(&at.year()) => Err(crate::domain::ValidationError::new(
            field,
            "must be a time in the years 1970 to 9999",
        )),
        _ => Ok(()),
    }
}
