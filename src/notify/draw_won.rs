//! Win notifications of draws: one request per win, through the channel, the global rate
//! limit and the retries of restock alerts.

use super::channel::{DrawWon, Notification, SendError};
use super::deliver::backoff;
use super::engine::Notifier;
use crate::domain::draw::Win;
use crate::telemetry::metrics;

impl Notifier {
    /// Delivers one win's notification, retrying as restock alerts do; answers why it gave
    /// up when it did. Each attempt takes a slot of the global rate limit first.
    pub async fn deliver_win(&self, win: &Win) -> Result<(), String> {
        let inner = self.inner();
        let config = &inner.config;
        let mut retries = 0;
        loop {
            tokio::select! {
                biased;
                () = inner.shutdown.cancelled() => return Err("the server is stopping".into()),
                () = inner.limiter.acquire() => {}
            }
            let notification = Notification::DrawWon(DrawWon {
                product_id: win.product_id,
                user_id: win.user_id,
                order_id: win.order_id,
                quantity: win.quantity,
                expires_at: win.expires_at,
                sent_at: inner.now(),
            });
            metrics::notification_started(win.product_id);
            let asked = match inner.channel.send(&notification).await {
                Ok(()) => {
                    metrics::notification_succeeded(win.product_id);
                    return Ok(());
                }
                Err(SendError::Permanent(reason)) => {
                    metrics::notification_failed(win.product_id);
                    return Err(reason);
                }
                Err(SendError::Retryable {
                    reason,
                    retry_after,
                }) => {
                    metrics::notification_failed(win.product_id);
                    if retries >= config.max_retries {
                        return Err(format!("{reason} (gave up after {} attempts)", retries + 1));
                    }
                    retry_after
                }
            };
            retries += 1;
            let delay = backoff(
                config.backoff,
                config.backoff_max,
                retries,
                asked,
                &mut rand::rng(),
            );
            tokio::select! {
                biased;
                () = inner.shutdown.cancelled() => return Err("the server is stopping".into()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}
