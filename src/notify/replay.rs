//! An operator's replay of one notification: the same webhook-id and body, a fresh
//! `sent_at`, timestamp and signature, through the global rate limit, logged as an attempt.

use super::channel::Notification;
use super::deliveries::{Answer, attempt_of};
use super::engine::Notifier;
use crate::domain::Conflict;
use crate::domain::delivery::{DeliveryAttempt, DeliveryKind, Sender};
use crate::store::{StoreError, StoreResult};

impl Notifier {
    /// Sends the notification `last` recorded once more and records the attempt; a claim
    /// alert only while its claim is still open (else `not_replayable`). Answers once the
    /// attempt is in the log.
    pub async fn replay(&self, last: &DeliveryAttempt) -> StoreResult<()> {
        let inner = self.inner();
        let notification: Notification = serde_json::from_str(&last.body)
            .map_err(|_| StoreError::Internal("a logged body does not read back"))?;
        if last.kind == DeliveryKind::Claim {
            let open = inner
                .parts
                .store
                .open_claim_of(last.product_id, last.user_id)
                .await?;
            if open.is_none_or(|c| Some(c.round) != last.round) {
                return Err(Conflict::NotReplayable.into());
            }
        }
        inner.parts.limiter.acquire(None).await;
        let notification = notification.restarted(inner.now());
        let sent = inner.parts.channel.send(&notification).await;
        let answer = Answer {
            sent: &sent,
            will_retry: false,
            sender: Sender::Replay,
        };
        let record = attempt_of(&notification, answer, inner.now());
        inner.deliveries.record(record).await;
        inner.deliveries.flush().await;
        Ok(())
    }
}
