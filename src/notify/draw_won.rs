//! Win notifications of draws: one request per win, through the channel, the global rate
//! limit and the retries of restock alerts.

use super::channel::{DrawWon, Notification};
use super::deliveries::{Answer, attempt_of};
use super::engine::Notifier;
use super::retry::retry_delay;
use crate::domain::delivery::Sender;
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
            let sent = inner.parts.channel.send(&notification).await;
            let answered_at = inner.now();
            let failure = match &sent {
                Ok(_) => {
                    metrics::notification_succeeded(win.product_id);
                    let answer = Answer {
                        sent: &sent,
                        will_retry: false,
                        sender: Sender::Engine,
                    };
                    let record = attempt_of(&notification, answer, answered_at);
                    inner.deliveries.record(record).await;
                    return Ok(());
                }
                Err(failure) => failure.clone(),
            };
            metrics::notification_failed(win.product_id);
            let delay = retry_delay(config, &mut retries, failure);
            let answer = Answer {
                sent: &sent,
                will_retry: delay.is_ok(),
                sender: Sender::Engine,
            };
            let record = attempt_of(&notification, answer, answered_at);
            inner.deliveries.record(record).await;
            let delay = delay?;
            tokio::select! {
                biased;
                () = inner.shutdown.cancelled() => return Err("the server is stopping".into()),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}
