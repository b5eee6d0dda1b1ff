//! Reading the delivery log, and its retention sweep.

use chrono::Duration;

use super::Shop;
use crate::domain::delivery::{DeliveryFailures, DeliveryRecord};
use crate::domain::page::{Page, PageRequest};
use crate::domain::round::RoundRef;
use crate::store::StoreResult;
use crate::store::deliveries::RoundDeliveries;

/// Most attempts of one notification listed.
pub const ATTEMPTS_LISTED: i64 = 1000;
/// Attempts deleted per statement of the sweep.
const SWEEP_BATCH: i64 = 1000;
/// Statements of one sweep, so one sweep never holds the database for long.
const SWEEP_STATEMENTS: usize = 20;

/// A page of a round's attempts, in the order recorded.
pub async fn of_round(
    shop: &Shop,
    which: RoundDeliveries,
    page: &PageRequest,
) -> StoreResult<Page<DeliveryRecord>> {
    super::paged(page, shop.store.round_deliveries(which, page), |r| r.id).await
}

/// Every attempt at one notification, first to last.
pub async fn of_notification(shop: &Shop, webhook_id: &str) -> StoreResult<Vec<DeliveryRecord>> {
    shop.store.deliveries_of(webhook_id, ATTEMPTS_LISTED).await
}

/// A round's failed and pending attempts, for the dashboard.
pub async fn failures(shop: &Shop, at: RoundRef) -> StoreResult<DeliveryFailures> {
    shop.store.delivery_failures(at.product, at.round).await
}

/// Deletes attempts older than `days`, in batches; answers how many went.
pub async fn sweep(shop: &Shop, days: u32) -> StoreResult<u64> {
    let before = shop.clock.now() - Duration::days(i64::from(days));
    let mut gone = 0;
    for _ in 0..SWEEP_STATEMENTS {
        let n = shop.store.sweep_deliveries(before, SWEEP_BATCH).await?;
        gone += n;
        if n < SWEEP_BATCH as u64 {
            break;
        }
    }
    Ok(gone)
}
