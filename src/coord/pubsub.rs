//! Following a Redis pub/sub subscription until it ends or the service stops.

use futures::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

/// What a subscription brought next.
#[derive(Debug)]
pub enum Heard {
    /// A message's text.
    Payload(String),
    /// The subscription ended (the connection dropped): subscribe again.
    Ended,
    /// The service is stopping.
    Shutdown,
}

/// Waits for the next text message of `messages`, the subscription's end, or shutdown.
pub async fn next_heard(
    messages: &mut (impl Stream<Item = redis::Msg> + Unpin),
    shutdown: &CancellationToken,
) -> Heard {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Heard::Shutdown,
            msg = messages.next() => match msg {
                None => return Heard::Ended,
                Some(m) => {
                    if let Ok(payload) = m.get_payload::<String>() {
                        return Heard::Payload(payload);
                    }
                }
            }
        }
    }
}
