//! Win notifications of draws: one request per win, through the channel, the global rate
//! limit and the retries of restock alerts.

use super::channel::{DrawWon, Notification};
use super::engine::Notifier;
use super::retry::retry_delay;
use crate::domain::draws::Win;
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
                _ = inner.parts.limiter.acquire(None) => {}
            }
            let notification = Notification::DrawWon(DrawWon {
                win: win.clone(),
                sent_at: inner.now(),
            });
            metrics::notification_started(win.product_id);
            let failure = match inner.parts.channel.send(&notification).await {
                Ok(()) => {
                    metrics::notification_succeeded(win.product_id);
                    return Ok(());
                }
                Err(failure) => failure,
            };
            metrics::notification_failed(win.product_id);
            let delay = retry_delay(config, &mut retries, failure)?;
            tokio::select! {
                biased;
                () = inner.shutdown.cancelled() => return Err("the server is stopping".into()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}
