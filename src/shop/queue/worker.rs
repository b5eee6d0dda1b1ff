//! The admitting worker: one step runs the admission of every live room (`store.admit`, one
//! transaction per room with its product row locked, so steps of several instances take
//! turns through the database); beside it, the rooms this instance's event streams watch
//! are read again where they changed (`live.rs`).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::domain::queue::Admitted;
use crate::shop::Shop;
use crate::store::StoreResult;
use crate::ticks::Ticks;

/// How often the rooms are stepped.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// One step over every room whose sale has started and that has waiting or admitted
/// members, then a refresh of the rooms watched here: the sum of what each room's
/// admission did. The worker runs the two on loops of their own (`run`); tests drive both.
pub async fn step(shop: &Shop) -> StoreResult<Admitted> {
    let out = admit_all(shop).await?;
    shop.live_rooms
        .refresh(&*shop.store, shop.clock.now())
        .await?;
    Ok(out)
}

/// The admission of every live room.
async fn admit_all(shop: &Shop) -> StoreResult<Admitted> {
    let now = shop.clock.now();
    let mut out = Admitted::default();
    for product in shop.store.live_queues(now).await? {
        let done = shop.store.admit(product, now).await?;
        if done != Admitted::default() {
            tracing::debug!(%product, admitted = done.admitted, expired = done.expired,
                sold_out = done.sold_out, "stepped a waiting room");
        }
        out.admitted += done.admitted;
        out.expired += done.expired;
        out.sold_out += done.sold_out;
    }
    Ok(out)
}

/// Steps the rooms every [`INTERVAL`] until shutdown, and on a loop of its own reads again
/// the watched rooms that changed: a long read of a big room never holds up an admission,
/// and a long admission (every waiter of a sold-out room marked) never holds up telling
/// the streams.
pub async fn run(shop: Shop, shutdown: CancellationToken) {
    let watching = {
        let (shop, shutdown) = (shop.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut ticks = Ticks::new(INTERVAL, &shutdown);
            while ticks.next().await {
                if let Err(e) = shop
                    .live_rooms
                    .refresh(&*shop.store, shop.clock.now())
                    .await
                {
                    tracing::warn!(error = %e, "reading the watched waiting rooms failed");
                }
            }
        })
    };
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = admit_all(&shop).await {
            tracing::warn!(error = %e, "waiting-room step failed");
        }
    }
    let _ = watching.await;
}
