//! A running round as its event hub reports it: requests started, the final event, the
//! checkpoints of an unbroken run.

use dropline::domain::ids::{ProductId, UserId};
use dropline::domain::round::RoundStatus;
use dropline::events::{EventHub, RoundProgress};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// How many notification requests the engine has started in a running round so far (retries
/// included; 0 before its run begins), as its event hub counts them.
pub fn started_so_far(events: &EventHub, product: i64, round: i64) -> i64 {
    events
        .progress(ProductId::from_db(product), round)
        .map_or(0, |p| p.started_count)
}

/// The event that ended a round's run here, from a subscription taken before the run began;
/// call it once the round has ended.
pub fn final_event(
    events: &mut broadcast::Receiver<RoundProgress>,
    product: i64,
    round: i64,
) -> RoundProgress {
    let product = ProductId::from_db(product);
    loop {
        match events.try_recv() {
            Ok(e) if e.product_id == product && e.round == round => {
                if e.status != RoundStatus::InProgress {
                    return e;
                }
            }
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(e) => panic!("the round's run sent no final event: {e}"),
        }
    }
}

/// Waits (at most 30 s) until `count` progress events of a running round have reported
/// `last_sent` as the end of its unbroken run; answers them. The bookkeeping writes a
/// checkpoint every second while a run lasts, so the later ones come a second apart.
pub async fn checkpoints_at(
    events: &mut broadcast::Receiver<RoundProgress>,
    product: i64,
    round: i64,
    last_sent: i64,
    count: usize,
) -> Vec<RoundProgress> {
    let (product, last_sent) = (ProductId::from_db(product), UserId::from_db(last_sent));
    let mut seen = Vec::new();
    let wait = async {
        while seen.len() < count {
            match events.recv().await {
                Ok(e) if e.product_id == product && e.round == round => {
                    if e.last_sent_user_id == Some(last_sent) {
                        seen.push(e);
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => panic!("the event hub closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the round's checkpoints did not come");
    seen
}
