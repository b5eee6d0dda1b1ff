//! The waiting room in the shop: joining, leaving and one's place; the admin's member list
//! and counts; the admission an order on a queued product needs. The admitting step is in
//! `worker.rs`.

pub mod live;
pub mod worker;

use chrono::{DateTime, Utc};

use super::Shop;
use super::detach::detached;
use crate::domain::Conflict;
use crate::domain::ids::UserId;
use crate::domain::page::{Page, PageRequest};
use crate::domain::product::Product;
use crate::domain::queue::{Member, QueueCounts, QueueState, sold_out};
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
    /// The detached step ended without an answer.
    #[error(transparent)]
    Interrupted(#[from] crate::shop::detach::Interrupted),
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
    // Detached: a client that goes away mid-join leaves the room as one whole join would
    // (joined or not, never half), and its retry answers the place.
    let (store, id) = (shop.store.clone(), product.id);
    let (created, member) = detached(
        &shop.tasks,
        async move { store.join_queue(id, user, now).await },
    )
    .await??;
    Ok((created, standing(shop, product, &member, now).await?))
}

/// Leaves the room; an open admission is given up (the next step admits the next waiter).
pub async fn leave(shop: &Shop, product: &Product, user: UserId) -> Result<(), QueueError> {
    queued(product)?;
    let (store, id, now) = (shop.store.clone(), product.id, shop.clock.now());
    if detached(&shop.tasks, async move {
        store.leave_queue(id, user, now).await
    })
    .await??
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
    let mut state = member.state(product.sale_starts_at, now);
    let (mut place, mut units_ahead) = (None, None);
    if state == QueueState::Waiting {
        let (ahead, open) = shop.store.queue_ahead(member, now).await?;
        // A sold-out room says so at once, before the admitting step marks the rows.
        let free = if open == 0 {
            shop.store
                .stock_of(product.id)
                .await?
                .map_or(0, |s| s.stock)
        } else {
            1
        };
        if sold_out(free, open) {
            state = QueueState::SoldOut;
        } else {
            place = Some(ahead + 1);
            units_ahead = Some((ahead + open) * product.per_user_limit);
        }
    }
    Ok(Standing {
        state,
        place,
        units_ahead,
        admitted_until: member
            .admitted_until
            .filter(|_| state == QueueState::Admitted),
    })
}

/// Watches the caller's standing for the event stream: 404 (`NotJoined`) when not in the
/// room; the receiver's room read holds the caller.
pub async fn watch(
    shop: &Shop,
    product: &Product,
    user: UserId,
) -> Result<tokio::sync::watch::Receiver<std::sync::Arc<live::Room>>, QueueError> {
    queued(product)?;
    if shop.store.queue_member(product.id, user).await?.is_none() {
        return Err(QueueError::NotJoined);
    }
    Ok(shop
        .live_rooms
        .watch(&*shop.store, product.id, user, shop.clock.now())
        .await?)
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

/// Seconds in the admin's admission history.
pub const HISTORY_SECONDS: i64 = 60;

/// The admissions of each of the last [`HISTORY_SECONDS`] whole seconds, oldest first; the
/// last is the current second.
pub async fn admissions_per_second(shop: &Shop, product: &Product) -> Result<Vec<i64>, QueueError> {
    queued(product)?;
    let now = shop.clock.now().timestamp();
    let first = now - (HISTORY_SECONDS - 1);
    let since = chrono::DateTime::from_timestamp(first, 0).unwrap_or_default();
    let mut seconds = vec![0; HISTORY_SECONDS as usize];
    for (second, n) in shop
        .store
        .queue_admissions_per_second(product.id, since)
        .await?
    {
        if let Some(slot) = usize::try_from(second - first)
            .ok()
            .and_then(|i| seconds.get_mut(i))
        {
            *slot = n;
        }
    }
    Ok(seconds)
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
