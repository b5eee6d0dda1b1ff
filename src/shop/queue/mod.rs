//! The waiting room in the shop: joining, leaving and one's place; the admin's member list
//! and counts; the admission an order on a queued product needs. The admitting step is in
//! `worker.rs`.

pub mod worker;

use chrono::{DateTime, Utc};

use super::Shop;
use crate::domain::Conflict;
use crate::domain::ids::UserId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::product::Product;
use crate::domain::queue::{Member, QueueCounts, QueueState};
use crate::store::{StoreError, StoreResult};

/// Why a waiting-room request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The product has no waiting room.
    #[error("this product has no waiting room")]
    NotQueued,
    /// The caller is not in the room.
    #[error("not in the waiting room")]
    NotJoined,
    /// The state of things refuses the request.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => Self::Conflict(c),
            other => Self::Store(other),
        }
    }
}

/// A member's place as its holder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// The state now.
    pub state: QueueState,
    /// 1-based place among the waiters, while WAITING.
    pub place: Option<i64>,
    /// Units held by open admissions plus the per-user limit of each waiter ahead, while
    /// WAITING.
    pub units_ahead: Option<i64>,
    /// Until when the admission lasts, while ADMITTED.
    pub admitted_until: Option<DateTime<Utc>>,
}

fn queued(product: &Product) -> Result<(), QueueError> {
    if product.queue.enabled {
        Ok(())
    } else {
        Err(QueueError::NotQueued)
    }
}

/// Joins the room of `product` (true the first time); `queue_closed` before it opens or
/// once the product sold out.
pub async fn join(
    shop: &Shop,
    product: &Product,
    user: UserId,
) -> Result<(bool, Standing), QueueError> {
    queued(product)?;
    let now = shop.clock.now();
    if product
        .queue
        .opens_at(product.sale_starts_at)
        .is_none_or(|opens| now < opens)
    {
        return Err(Conflict::QueueClosed.into());
    }
    let (created, member) = shop.store.join_queue(product.id, user, now).await?;
    Ok((created, standing(shop, product, &member, now).await?))
}

/// Leaves the room; an open admission is given up (the next step admits the next waiter).
pub async fn leave(shop: &Shop, product: &Product, user: UserId) -> Result<(), QueueError> {
    queued(product)?;
    if shop
        .store
        .leave_queue(product.id, user, shop.clock.now())
        .await?
    {
        Ok(())
    } else {
        Err(QueueError::NotJoined)
    }
}

/// The caller's standing in the room.
pub async fn standing_of(
    shop: &Shop,
    product: &Product,
    user: UserId,
) -> Result<Standing, QueueError> {
    queued(product)?;
    let member = shop
        .store
        .queue_member(product.id, user)
        .await?
        .ok_or(QueueError::NotJoined)?;
    Ok(standing(shop, product, &member, shop.clock.now()).await?)
}

async fn standing(
    shop: &Shop,
    product: &Product,
    member: &Member,
    now: DateTime<Utc>,
) -> StoreResult<Standing> {
    let state = member.state(product.sale_starts_at, now);
    let (place, units_ahead) = if state == QueueState::Waiting {
        let (ahead, open) = shop.store.queue_ahead(member, now).await?;
        (
            Some(ahead + 1),
            Some((ahead + open) * product.per_user_limit),
        )
    } else {
        (None, None)
    };
    Ok(Standing {
        state,
        place,
        units_ahead,
        admitted_until: member
            .admitted_until
            .filter(|_| state == QueueState::Admitted),
    })
}

/// A page of the room's members in its order.
pub async fn members(
    shop: &Shop,
    product: &Product,
    page: &PageRequest,
) -> Result<Page<Member>, QueueError> {
    queued(product)?;
    Ok(super::paged(page, shop.store.queue_members(product.id, page), |m| m.id).await?)
}

/// How many members are in each state.
pub async fn counts(shop: &Shop, product: &Product) -> Result<QueueCounts, QueueError> {
    queued(product)?;
    Ok(shop
        .store
        .queue_counts(product.id, shop.clock.now())
        .await?)
}

/// Whether `user` may order `product` now: always without a room, else only with an open
/// admission (one read of the member's row).
pub async fn may_order(shop: &Shop, product: &Product, user: UserId) -> StoreResult<bool> {
    if !product.queue.enabled {
        return Ok(true);
    }
    let now = shop.clock.now();
    Ok(shop
        .store
        .queue_member(product.id, user)
        .await?
        .is_some_and(|m| m.is_admitted(now)))
}

/// Records that an order used the user's admission; a failure is logged (the order stands,
/// and the admission then expires on its own).
pub async fn ordered(shop: &Shop, product: &Product, user: UserId) {
    if !product.queue.enabled {
        return;
    }
    if let Err(e) = shop
        .store
        .admission_used(product.id, user, shop.clock.now())
        .await
    {
        tracing::warn!(error = %e, product = %product.id, "Failed to mark an admission used");
    }
}
