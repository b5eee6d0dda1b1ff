//! The webhook channel: one JSON `POST` per notification over a pooled HTTP client, signed
//! per Standard Webhooks when secrets are configured.

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use std::time::{Duration, SystemTime};

use super::channel::{Channel, Notification, SendError};
use super::signing::SigningKeys;

/// Posts notifications to one URL.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
    /// Signs every request when set.
    keys: Option<SigningKeys>,
}

/// Why the webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse or is not http(s).
    #[error("DROPLINE_NOTIFY_URL is not an http(s) URL")]
    BadUrl,
    /// A signing secret is malformed (the message never shows it).
    #[error("DROPLINE_NOTIFY_SECRET is invalid: {0}")]
    BadSecret(#[from] super::signing::SecretError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

impl WebhookChannel {
    /// A channel to `url`, each request bounded by `timeout`, keeping up to `pool` idle connections.
    pub fn new(url: &str, timeout: Duration, pool: usize) -> Result<Self, WebhookError> {
        let url = reqwest::Url::parse(url).map_err(|_| WebhookError::BadUrl)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::BadUrl);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(pool)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            url,
            keys: None,
        })
    }

    /// Signs every request with `keys` (one signature per secret).
    pub fn signed(mut self, keys: Option<SigningKeys>) -> Self {
        self.keys = keys;
        self
    }
}

/// Reads `Retry-After` in either form: delta-seconds or an HTTP date (a date already passed
/// asks for no wait). The engine caps what it honours.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let value = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

#[async_trait]
impl Channel for WebhookChannel {
    async fn send(&self, n: &Notification) -> Result<Option<u16>, SendError> {
        let body = serde_json::to_vec(n)
            .map_err(|e| SendError::Permanent(format!("cannot encode notification: {e}")))?;
        let key = n.idempotency_key();
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &key);
        if let Some(keys) = &self.keys {
            // The attempt's own start time, so a retry carries a new timestamp and signature.
            let timestamp = n.sent_at().timestamp();
            request = request
                .header("webhook-id", &key)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", keys.sign(&key, timestamp, &body));
        }
        let sent = request.body(body).send().await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) => {
                let what = if e.is_timeout() {
                    "the provider did not answer in time"
                } else if e.is_connect() {
                    "cannot connect to the provider"
                } else {
                    "the request to the provider failed"
                };
                return Err(SendError::Retryable {
                    reason: what.to_owned(),
                    retry_after: None,
                    status: None,
                });
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(Some(status.as_u16()));
        }
        let reason = format!("the provider answered {status}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(SendError::Retryable {
                reason,
                retry_after: retry_after(&resp),
                status: Some(status.as_u16()),
            })
        } else {
            Err(SendError::Permanent(reason))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::webhook::parse_retry_after;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let date = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = date - Duration::from_secs(90);
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(90))
        );
        let later = date + Duration::from_secs(5);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", SystemTime::now()), None);
    }
}
