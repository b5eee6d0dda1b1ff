//! The admitting worker: one step runs the admission of every live room (`store.admit`, one
//! transaction per room with its product row locked, so steps of several instances take
//! turns through the database), then reads again the rooms this instance's event streams
//! watch where they changed (`live.rs`).

use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::domain::queue::Admitted;
use crate::shop::Shop;
use crate::store::StoreResult;
use crate::ticks::Ticks;

/// How often the rooms are stepped.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// One step over every room whose sale has started and that has waiting or admitted
/// members: the sum of what each room's admission did.
pub async fn step(shop: &Shop) -> StoreResult<Admitted> {
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
    shop.live_rooms.refresh(&*shop.store, now).await?;
    Ok(out)
}

/// Steps the rooms every [`INTERVAL`] until shutdown.
pub async fn run(shop: Shop, shutdown: CancellationToken) {
    let mut ticks = Ticks::new(INTERVAL, &shutdown);
    while ticks.next().await {
        if let Err(e) = step(&shop).await {
            tracing::warn!(error = %e, "waiting-room step failed");
        }
    }
}
