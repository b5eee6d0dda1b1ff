//! The in-memory decisions of one order batch, shared by both backends' group-commit
//! writers. The batch holds the write lock of its products (SQLite's write lock, MySQL's
//! product row locks), so what it read at its start stays true except for its own changes,
//! which the ledger tracks. The statements the writers share are in `statements.rs`.

mod statements;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use crate::domain::Conflict;
use crate::domain::order::{Order, OrderRequest, Placement};
use crate::store::orders::SaleRow;
use crate::store::{StoreError, StoreResult};
pub(crate) use statements::{
    KeyedRow, keyed, keyed_orders_query, leave_line_queries, record_known,
};

/// One order waiting for a group-commit writer.
pub(crate) struct Placing {
    pub req: OrderRequest,
    pub now: DateTime<Utc>,
    pub reply: oneshot::Sender<StoreResult<Placement>>,
}

/// Sends every order of the batch its answer (all of them refused when the batch rolled
/// back) and empties the batch for the next one.
pub(crate) fn answer_all(
    batch: &mut Vec<Placing>,
    placed: StoreResult<Vec<StoreResult<Placement>>>,
) {
    match placed {
        Ok(answers) => {
            for (p, answer) in batch.drain(..).zip(answers) {
                let _ = p.reply.send(answer);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, orders = batch.len(), "order batch rolled back");
            // A race lost on every try is worth the buyer's retry; anything else is a fault.
            let contended = crate::store::retry::lost(&e);
            for p in batch.drain(..) {
                let _ = p.reply.send(Err(if contended {
                    StoreError::Contended("order")
                } else {
                    StoreError::Internal("the order batch was rolled back")
                }));
            }
        }
    }
}

/// A product's sale settings and stock, read at the start of the batch.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ProductStock {
    pub id: i64,
    pub stock: i64,
    #[sqlx(flatten)]
    pub sale: SaleRow,
}

/// What the batch decided for one order before the new rows are written.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Refused, or replayed from an order committed earlier: final.
    Done(StoreResult<Placement>),
    /// Takes its stock; its row is the `n`-th new row of the batch.
    Take(usize),
    /// A retry of the `n`-th new order of this batch, with the same body.
    Replay(usize),
}

/// One new order: its index in the batch and when its hold ends (epoch ms).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewOrder {
    pub index: usize,
    pub expires_at: i64,
}

/// Everything the batch knows, and its own changes so far.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Products of the batch by id; `stock` goes down as orders take it.
    pub products: HashMap<i64, ProductStock>,
    /// Units held (RESERVED + PAID) per (product, user), committed and from this batch.
    pub held: HashMap<(i64, i64), i64>,
    /// Committed orders by (user, idempotency key).
    pub known: HashMap<(i64, String), Order>,
    /// The new orders, in order.
    pub fresh: Vec<NewOrder>,
    /// New orders of this batch by (user, idempotency key): index into `fresh`.
    pub fresh_keys: HashMap<(i64, String), usize>,
    /// Units taken per product by this batch.
    pub taken: HashMap<i64, i64>,
}

impl Ledger {
    /// Decides the `index`-th order of the batch, placed at `now_ms`; `reqs` is the batch.
    pub fn decide(&mut self, reqs: &[&OrderRequest], index: usize, now_ms: i64) -> Decision {
        let req = reqs[index];
        let user = req.user_id.get();
        if let Some(key) = &req.idempotency_key {
            let k = (user, key.as_str().to_owned());
            if let Some(&n) = self.fresh_keys.get(&k) {
                let first = reqs[self.fresh[n].index];
                return if first.product_id == req.product_id && first.quantity == req.quantity {
                    Decision::Replay(n)
                } else {
                    Decision::Done(Err(Conflict::IdempotencyKeyReused.into()))
                };
            }
            if let Some(order) = self.known.get(&k) {
                return Decision::Done(req.replay(order.clone()).map_err(StoreError::from));
            }
        }
        let product = req.product_id.get();
        let Some(p) = self.products.get_mut(&product) else {
            return Decision::Done(Err(StoreError::NotFound));
        };
        let q = req.quantity.get();
        let held = self.held.entry((product, user)).or_default();
        if let Err(c) = p.sale.terms().admit(now_ms, *held, req.quantity) {
            return Decision::Done(Err(c.into()));
        }
        if p.stock < q {
            return Decision::Done(Err(Conflict::SoldOut.into()));
        }
        p.stock -= q;
        *held += q;
        *self.taken.entry(product).or_default() += q;
        let n = self.fresh.len();
        self.fresh.push(NewOrder {
            index,
            expires_at: now_ms + p.sale.hold_seconds * 1000,
        });
        if let Some(key) = &req.idempotency_key {
            self.fresh_keys.insert((user, key.as_str().to_owned()), n);
        }
        Decision::Take(n)
    }
}

/// The answer to every order of a committed batch: `rows` are the new orders in the order
/// of `fresh`, `versions` each product's stock version after the batch.
pub(crate) fn answers(
    decisions: Vec<Decision>,
    rows: &[Order],
    versions: &BTreeMap<i64, i64>,
) -> Vec<StoreResult<Placement>> {
    decisions
        .into_iter()
        .map(|d| match d {
            Decision::Done(answer) => answer,
            Decision::Take(n) => row(rows, n).map(|o| {
                let version = versions.get(&o.product_id.get()).copied().unwrap_or(0);
                Placement::Created(o, version)
            }),
            Decision::Replay(n) => row(rows, n).map(Placement::Existing),
        })
        .collect()
}

/// The `n`-th new row; the insert answers one row per new order, so it is always there.
fn row(rows: &[Order], n: usize) -> StoreResult<Order> {
    rows.get(n)
        .cloned()
        .ok_or_else(|| StoreError::Internal("the order batch insert returned too few rows"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{ProductId, UserId};
    use crate::domain::order::{IdempotencyKey, Quantity};

    fn ledger(stock: i64, limit: i64) -> Ledger {
        let mut l = Ledger::default();
        l.products.insert(
            1,
            ProductStock {
                id: 1,
                stock,
                sale: SaleRow {
                    sale_starts_at: Some(100),
                    sale_ends_at: Some(200),
                    per_user_limit: limit,
                    hold_seconds: 5,
                    sale_mode: "first_come".into(),
                },
            },
        );
        l
    }

    fn req(product: i64, user: i64, quantity: i64, key: Option<&str>) -> OrderRequest {
        OrderRequest {
            product_id: ProductId::from_db(product),
            user_id: UserId::from_db(user),
            quantity: Quantity::from_db(quantity),
            idempotency_key: key.map(|k| IdempotencyKey::try_from(k).unwrap()),
        }
    }

    fn code(d: &Decision) -> &'static str {
        match d {
            Decision::Done(Err(StoreError::Conflict(c))) => c.code(),
            Decision::Done(Err(StoreError::NotFound)) => "not_found",
            Decision::Done(_) => "done",
            Decision::Take(_) => "take",
            Decision::Replay(_) => "replay",
        }
    }

    fn run(l: &mut Ledger, reqs: &[OrderRequest], now: i64) -> Vec<&'static str> {
        let refs: Vec<&OrderRequest> = reqs.iter().collect();
        (0..refs.len())
            .map(|i| code(&l.decide(&refs, i, now)))
            .collect()
    }

    #[test]
    fn a_batch_counts_its_own_orders_toward_stock_and_the_per_user_limit() {
        let mut l = ledger(2, 1);
        l.held.insert((1, 9), 1);
        let reqs = [
            req(1, 1, 1, None),
            req(1, 1, 1, None),
            req(1, 9, 1, None),
            req(1, 2, 1, None),
            req(1, 3, 1, None),
            req(2, 4, 1, None),
        ];
        let got = run(&mut l, &reqs, 150);
        assert_eq!(
            got,
            [
                "take",
                "purchase_limit_exceeded",
                "purchase_limit_exceeded",
                "take",
                "sold_out",
                "not_found"
            ]
        );
        assert_eq!(l.taken.get(&1), Some(&2));
        assert_eq!(l.fresh.iter().map(|n| n.index).collect::<Vec<_>>(), [0, 3]);
        assert_eq!(l.fresh[0].expires_at, 150 + 5000);
    }

    #[test]
    fn a_key_used_twice_in_one_batch_replays_or_conflicts() {
        let mut l = ledger(10, 5);
        let reqs = [
            req(1, 1, 2, Some("k")),
            req(1, 1, 2, Some("k")),
            req(1, 1, 1, Some("k")),
            req(1, 2, 2, Some("k")),
        ];
        let got = run(&mut l, &reqs, 150);
        assert_eq!(got, ["take", "replay", "idempotency_key_reused", "take"]);
        assert_eq!(l.taken.get(&1), Some(&4));
    }

    #[test]
    fn orders_outside_the_sale_window_take_nothing() {
        let mut l = ledger(10, 5);
        let reqs = [req(1, 1, 1, None)];
        assert_eq!(run(&mut l, &reqs, 99), ["sale_not_started"]);
        assert_eq!(run(&mut l, &reqs, 200), ["sale_ended"]);
        assert!(l.taken.is_empty());
    }
}
