//! Placing, paying, canceling and reading orders: the stock gate in front, one database
//! transaction behind, and who may touch which order.

use super::Shop;
use crate::auth::Principal;
use crate::domain::Conflict;
use crate::domain::claim::AlertMode;
use crate::domain::ids::{OrderId, UserId};
use crate::domain::order::{Order, OrderRequest, PaymentRef, Placement, Transition};
use crate::domain::page::PageRequest;
use crate::gate::take::{GateUnavailable, Hold, Take};
use crate::shop::detach::{Interrupted, detached};
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
    /// The product has a waiting room and the caller holds no open admission to it.
    #[error("an open admission from the waiting room is required to order this product")]
    AdmissionRequired,
    /// The state of things refuses the request.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The database failed.
    #[error(transparent)]
    Store(StoreError),
    /// The shared stock gate did not answer.
    #[error(transparent)]
    Gate(#[from] GateUnavailable),
    /// The detached step ended without an answer.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(c) => Self::Conflict(c),
            other => Self::Store(other),
        }
    }
}

/// Longest wait for units in flight before a keyed request is answered sold out.
const KEY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Places an order. The work runs detached: a client that goes away mid-request changes
/// nothing about the outcome (the order is committed and the gate settled, or neither).
pub async fn place(shop: &Shop, req: &OrderRequest) -> Result<Placement, OrderError> {
    let (st, rq) = (shop.clone(), req.clone());
    detached(&shop.tasks, async move { place_now(&st, &rq).await }).await?
}

/// Places an order: requests with one key go one at a time and a known key replays; the
/// gate turns away sold-out requests without a write; its units are committed only after
/// the database committed the order, and given back otherwise.
async fn place_now(shop: &Shop, req: &OrderRequest) -> Result<Placement, OrderError> {
    // A draw product takes no orders: refused before the gate (its database batch refuses too).
    let product = shop.store.get_product(req.product_id).await?;
    if product
        .as_ref()
        .is_some_and(|p| p.sale_mode == crate::domain::draws::SaleMode::Draw)
    {
        return Err(Conflict::DrawOnly.into());
    }
    // Only a product whose rounds give claims can have a buyer with one.
    let claims = product
        .as_ref()
        .is_some_and(|p| p.alert.alert_mode == AlertMode::Claim);
    let _turn = match &req.idempotency_key {
        Some(key) => Some(shop.key_locks.turn(req.user_id, key).await),
        None => None,
    };
    if let Some(existing) = known(shop, req).await? {
        return Ok(req.replay(existing)?);
    }
    // A queued product sells only to the holders of an open admission (one indexed read).
    let queued = product.as_ref().filter(|p| p.queue.enabled);
    if let Some(p) = queued
        && !super::queue::may_order(shop, p, req.user_id).await?
    {
        return Err(OrderError::AdmissionRequired);
    }
    if claims && let Some(placed) = place_claimed(shop, req).await? {
        if let Some(p) = queued {
            super::queue::ordered(shop, p, req.user_id).await;
        }
        return Ok(placed);
    }
    let request = request_id();
    let Some(hold) = take(shop, req, req.quantity.get(), &request).await? else {
        // The same key may be deciding on another instance right now, holding the units:
        // wait for the units in flight to settle, then a repeat answers with its order.
        if req.idempotency_key.is_some() {
            shop.gate.settled(req.product_id, KEY_WAIT).await;
            if let Some(existing) = known(shop, req).await? {
                return Ok(req.replay(existing)?);
            }
        }
        return Err(Conflict::SoldOut.into());
    };
    match shop.store.place_order(req, shop.clock.now()).await {
        Ok(Placement::Created(order, version)) => {
            hold.commit(version).await;
            if let Some(p) = queued {
                super::queue::ordered(shop, p, req.user_id).await;
            }
            Ok(Placement::Created(order, version))
        }
        Ok(replayed) => {
            hold.give_back().await;
            Ok(replayed)
        }
        Err(e) => {
            hold.give_back().await;
            Err(match e {
                StoreError::NotFound => OrderError::NotFound("product"),
                e => e.into(),
            })
        }
    }
}

/// Places the order of a user who holds an open claim on the product: its first unit is
/// the claim's, the rest is taken from the gate. None when the user holds no open claim.
async fn place_claimed(shop: &Shop, req: &OrderRequest) -> Result<Option<Placement>, OrderError> {
    if shop
        .store
        .open_claim_of(req.product_id, req.user_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let rest = req.quantity.get() - 1;
    let hold = if rest > 0 {
        match take(shop, req, rest, &request_id()).await? {
            Some(hold) => Some(hold),
            None => return Err(Conflict::SoldOut.into()),
        }
    } else {
        None
    };
    let placed = shop.store.place_claimed_order(req, shop.clock.now()).await;
    match (placed, hold) {
        (Ok(Some(Placement::Created(order, version))), hold) => {
            if let Some(hold) = hold {
                hold.commit(version).await;
            }
            crate::telemetry::metrics::claims("used", 1);
            shop.gate.claims_changed();
            Ok(Some(Placement::Created(order, version)))
        }
        (other, hold) => {
            if let Some(hold) = hold {
                hold.give_back().await;
            }
            match other {
                Ok(answer) => Ok(answer),
                Err(StoreError::NotFound) => Err(OrderError::NotFound("product")),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The order the request's key already placed, if it has a key and one was placed.
async fn known(shop: &Shop, req: &OrderRequest) -> Result<Option<Order>, OrderError> {
    match &req.idempotency_key {
        Some(key) => Ok(shop.store.order_by_key(req.user_id, key).await?),
        None => Ok(None),
    }
}

/// Takes `q` of the order's units from the gate, loading the product's counter first when the gate
/// has none; None when there are not enough.
async fn take(
    shop: &Shop,
    req: &OrderRequest,
    q: i64,
    request: &str,
) -> Result<Option<Hold>, OrderError> {
    match shop.gate.take(req.product_id, q, request).await? {
        Take::Taken(hold) => return Ok(Some(hold)),
        Take::NotEnough => return Ok(None),
        Take::Unknown => {}
    }
    let record = shop
        .store
        .stock_of(req.product_id)
        .await?
        .ok_or(OrderError::NotFound("product"))?;
    shop.gate.ensure_loaded(record).await?;
    match shop.gate.take(req.product_id, q, request).await? {
        Take::Taken(hold) => Ok(Some(hold)),
        _ => Ok(None),
    }
}

/// A fresh id for one placement's units in the shared gate.
fn request_id() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
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
pub async fn get(shop: &Shop, who: &Principal, id: OrderId) -> Result<Order, OrderError> {
    let order = shop
        .store
        .get_order(id)
        .await?
        .ok_or(OrderError::NotFound("order"))?;
    may_manage(who, &order)?;
    Ok(order)
}

/// Pays an order; only its user may.
pub async fn pay(
    shop: &Shop,
    who: &Principal,
    id: OrderId,
    payment: &PaymentRef,
) -> Result<Order, OrderError> {
    if !matches!(who, Principal::User(_)) {
        return Err(OrderError::Forbidden);
    }
    let product = get(shop, who, id).await?.product_id;
    let (st, payment) = (shop.clone(), payment.clone());
    detached(&shop.tasks, async move {
        let done = st
            .store
            .pay_order(id, product, &payment, st.clock.now())
            .await
            .map_err(not_found_is_order)?;
        settle(&st, done).await
    })
    .await?
}

/// Cancels an order (its user or an operator); its units return to stock.
pub async fn cancel(shop: &Shop, who: &Principal, id: OrderId) -> Result<Order, OrderError> {
    let product = get(shop, who, id).await?.product_id;
    let st = shop.clone();
    detached(&shop.tasks, async move {
        let done = st
            .store
            .cancel_order(id, product, st.clock.now())
            .await
            .map_err(not_found_is_order)?;
        settle(&st, done).await
    })
    .await?
}

/// A user's orders, newest first.
pub async fn list_mine(
    shop: &Shop,
    user: UserId,
    page: &PageRequest,
) -> Result<Vec<Order>, OrderError> {
    Ok(shop.store.user_orders(user, page).await?)
}

/// After a committed pay or cancel: units that came back go to the gate (no restock round
/// opens for them), then the answer is the order or the refusal.
async fn settle(shop: &Shop, done: Transition) -> Result<Order, OrderError> {
    shop.gate
        .returned(done.order.product_id, done.returned, done.stock_version)
        .await;
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
