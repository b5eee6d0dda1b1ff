//! Placing, paying, canceling and reading orders: the stock gate in front, one database
//! transaction behind, and who may touch which order.

use crate::auth::Principal;
use crate::domain::Conflict;
use crate::domain::ids::{OrderId, UserId};
use crate::domain::order::{Order, OrderRequest, PaymentRef, Placement, Transition};
use crate::domain::page::PageRequest;
use crate::shop::take::{GateUnavailable, Take};
use crate::state::AppState;
use crate::store::StoreError;

/// Why an order use case did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The product or order does not exist, or is not the caller's to see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's role may not do this.
    #[error("this caller may not do that")]
    Forbidden,
    /// The state of things refuses the request.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// The shared stock gate did not answer.
    #[error(transparent)]
    Gate(#[from] GateUnavailable),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => Self::Conflict(c),
            other => Self::Store(other),
        }
    }
}

/// Places an order: a known key replays, the gate turns away sold-out requests without a
/// write, and the gate's units are committed only after the database committed the order.
pub async fn place(state: &AppState, req: &OrderRequest) -> Result<Placement, OrderError> {
    if let Some(key) = &req.idempotency_key
        && let Some(existing) = state.store.order_by_key(req.user_id, key).await?
    {
        return Ok(req.replay(existing)?);
    }
    let hold = match state.gate.take(req.product_id, req.quantity.get()).await? {
        Take::Taken(hold) => hold,
        Take::NotEnough => return Err(Conflict::SoldOut.into()),
        Take::Unknown => {
            let product = state
                .store
                .get_product(req.product_id)
                .await?
                .ok_or(OrderError::NotFound("product"))?;
            state.gate.ensure_loaded(product.id, product.stock).await?;
            match state.gate.take(req.product_id, req.quantity.get()).await? {
                Take::Taken(hold) => hold,
                _ => return Err(Conflict::SoldOut.into()),
            }
        }
    };
    match state.store.place_order(req, state.clock.now()).await {
        Ok(Placement::Created(order)) => {
            hold.commit().await;
            Ok(Placement::Created(order))
        }
        // A replay took nothing: dropping the hold gives its units back.
        Ok(replayed) => Ok(replayed),
        Err(StoreError::NotFound) => Err(OrderError::NotFound("product")),
        Err(e) => Err(e.into()),
    }
}

/// Who may read or cancel an order: its user, or an operator. Another user learns nothing
/// (404, as for an unknown id); a brand has no business with orders (403).
fn may_manage(who: &Principal, order: &Order) -> Result<(), OrderError> {
    match who {
        Principal::Admin => Ok(()),
        Principal::User(u) if *u == order.user_id => Ok(()),
        Principal::User(_) => Err(OrderError::NotFound("order")),
        Principal::Brand(_) => Err(OrderError::Forbidden),
    }
}

/// Reads one order the caller may see.
pub async fn get(state: &AppState, who: &Principal, id: OrderId) -> Result<Order, OrderError> {
    let order = state
        .store
        .get_order(id)
        .await?
        .ok_or(OrderError::NotFound("order"))?;
    may_manage(who, &order)?;
    Ok(order)
}

/// Pays an order; only its user may.
pub async fn pay(
    state: &AppState,
    who: &Principal,
    id: OrderId,
    payment: &PaymentRef,
) -> Result<Order, OrderError> {
    if !matches!(who, Principal::User(_)) {
        return Err(OrderError::Forbidden);
    }
    get(state, who, id).await?;
    let done = state
        .store
        .pay_order(id, payment, state.clock.now())
        .await
        .map_err(not_found_is_order)?;
    settle(state, done).await
}

/// Cancels an order (its user or an operator); its units return to stock.
pub async fn cancel(state: &AppState, who: &Principal, id: OrderId) -> Result<Order, OrderError> {
    get(state, who, id).await?;
    let done = state
        .store
        .cancel_order(id, state.clock.now())
        .await
        .map_err(not_found_is_order)?;
    settle(state, done).await
}

/// A user's orders, newest first.
pub async fn list_mine(
    state: &AppState,
    user: UserId,
    page: &PageRequest,
) -> Result<Vec<Order>, OrderError> {
    Ok(state.store.user_orders(user, page).await?)
}

/// After a committed pay or cancel: units that came back go to the gate (no restock round
/// opens for them), then the answer is the order or the refusal.
async fn settle(state: &AppState, done: Transition) -> Result<Order, OrderError> {
    if done.returned > 0 {
        state
            .gate
            .returned(done.order.product_id, done.returned)
            .await;
    }
    match done.refused {
        Some(c) => Err(c.into()),
        None => Ok(done.order),
    }
}

fn not_found_is_order(e: StoreError) -> OrderError {
    match e {
        StoreError::NotFound => OrderError::NotFound("order"),
        other => other.into(),
    }
}
