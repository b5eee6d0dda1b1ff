//! A product's line of restock alerts: joining, leaving (which releases the leaver's open
//! claim), one's place, one's lines, the line itself, and importing members in order.

use super::Shop;
use super::detach::{StepError, detached};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::{Page, PageRequest};
use crate::domain::subscription::{ImportOutcome, JoinOutcome, Subscription};
use crate::store::{LineWindow, StoreResult};

/// Puts `user` at the back of `product`'s line, or answers its place when already in it.
pub async fn join(
    shop: &Shop,
    product: ProductId,
    user: UserId,
) -> StoreResult<(JoinOutcome, Subscription)> {
    shop.store.join_line(product, user, shop.clock.now()).await
}

/// Takes the user out of the product's line and releases the user's open claim on it,
/// giving its unit back; detached, so a client that goes away changes nothing.
pub async fn leave(shop: &Shop, product: ProductId, user: UserId) -> Result<(), StepError> {
    let st = shop.clone();
    detached(&shop.tasks, async move {
        let now = st.clock.now();
        st.store.leave_line(product, user, now).await?;
        if let Some(r) = st.store.release_claims(product, user, now).await? {
            st.gate.returned(r.product, r.units, r.stock_version).await;
            crate::telemetry::metrics::claims("released", r.units as u64);
            st.gate.claims_changed();
        }
        Ok::<_, StepError>(())
    })
    .await?
}

/// `user`'s subscription to `product` and its 1-based place among the active members.
pub async fn place(
    shop: &Shop,
    product: ProductId,
    user: UserId,
) -> StoreResult<Option<(Subscription, i64)>> {
    shop.store.line_place(product, user).await
}

/// A page of `user`'s lines.
pub async fn of_user(
    shop: &Shop,
    user: UserId,
    page: &PageRequest,
) -> StoreResult<Page<Subscription>> {
    super::paged(page, shop.store.user_subscriptions(user, page), |s| {
        s.position
    })
    .await
}

/// A page of `product`'s line, front first.
pub async fn members(
    shop: &Shop,
    product: ProductId,
    page: &PageRequest,
) -> StoreResult<Page<Subscription>> {
    let window = LineWindow {
        after: page.after.unwrap_or(0),
        upto: i64::MAX,
        limit: page.fetch(),
    };
    super::paged(page, shop.store.line_page(product, window), |s| s.position).await
}

/// Appends `users` to the back of the line in order; those already in it keep their place.
pub async fn import(
    shop: &Shop,
    product: ProductId,
    users: &[UserId],
) -> StoreResult<ImportOutcome> {
    shop.store
        .import_line(product, users, shop.clock.now())
        .await
}
