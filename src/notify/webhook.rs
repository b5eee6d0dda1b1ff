//! The webhook channel: one JSON `POST` per notification over a pooled HTTP client.

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use std::time::Duration;

use super::channel::{Channel, Notification, SendError};

/// Posts notifications to one URL.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
    url: reqwest::Url,
}

/// Why the webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL does not parse or is not http(s).
    #[error("DROPLINE_NOTIFY_URL is not an http(s) URL")]
    BadUrl,
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
        Ok(Self { client, url })
    }
}

/// Reads `Retry-After` given in seconds (the form providers use for rate limits).
fn retry_after(resp: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = resp
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(300)))
}

#[async_trait]
impl Channel for WebhookChannel {
    async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let sent = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", n.idempotency_key())
            .json(n)
            .send()
            .await;
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
                });
            }
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let reason = format!("the provider answered {status}");
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(SendError::Retryable {
                reason,
                retry_after: retry_after(&resp),
            })
        } else {
            Err(SendError::Permanent(reason))
        }
    }
}
