//! The statements both group-commit writers share: the orders placed before under the
//! batch's idempotency keys, and the buyers' departure from the lines of what they bought.

use std::collections::BTreeMap;

use super::{Ledger, NewOrder, Placing};
use crate::domain::order::{Order, OrderRequest};
use crate::store::orders::OrderRow;
use crate::store::rows::{padded_len, push_id_list};

/// A committed order with the key it was placed with.
#[derive(sqlx::FromRow)]
pub(crate) struct KeyedRow {
    #[sqlx(flatten)]
    pub order: OrderRow,
    pub idempotency_key: String,
}

/// The batch's requests that carry an idempotency key, as (user, key).
pub(crate) fn keyed<'a>(reqs: &[&'a OrderRequest]) -> Vec<(i64, &'a str)> {
    reqs.iter()
        .filter_map(|r| Some((r.user_id.get(), r.idempotency_key.as_ref()?.as_str())))
        .collect()
}

/// The query for the orders placed before under the batch's keys (none without keys): users
/// crossed with keys, both lists padded like `push_id_list` so that the statement keeps few
/// shapes.
pub(crate) fn keyed_orders_query<DB>(keyed: &[(i64, &str)]) -> Option<sqlx::QueryBuilder<DB>>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if keyed.is_empty() {
        return None;
    }
    let mut q = sqlx::QueryBuilder::new(
        "SELECT id, product_id, user_id, quantity, status, created_at, expires_at, paid_at, \
         payment_ref, idempotency_key FROM orders WHERE user_id IN ",
    );
    push_id_list(&mut q, keyed.iter().map(|(user, _)| *user));
    q.push(" AND idempotency_key IN (");
    let mut keys = q.separated(", ");
    for (_, key) in keyed {
        keys.push_bind(*key);
    }
    if let Some((_, last)) = keyed.last() {
        for _ in keyed.len()..padded_len(keyed.len()) {
            keys.push_bind(*last);
        }
    }
    q.push(")");
    Some(q)
}

/// Records what [`keyed_orders_query`] found: only the (user, key) pairs the batch asked for
/// (the IN lists cross users with keys).
pub(crate) fn record_known(ledger: &mut Ledger, keyed: &[(i64, &str)], rows: Vec<KeyedRow>) {
    for k in rows {
        if keyed.contains(&(k.order.user_id, k.idempotency_key.as_str())) {
            let user = k.order.user_id;
            ledger
                .known
                .insert((user, k.idempotency_key), Order::from(k.order));
        }
    }
}

/// For every product of the batch's new orders, the statement by which their buyers leave
/// its line. `active` is the dialect's test of an active row (SQLite writes `+is_active = 1`
/// to stay on the (product_id, user_id) key instead of walking the product's active line).
pub(crate) fn leave_line_queries<DB>(
    batch: &[Placing],
    fresh: &[NewOrder],
    active: &str,
) -> Vec<sqlx::QueryBuilder<DB>>
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    departures(batch, fresh)
        .into_iter()
        .map(|(product, (now, users))| {
            let mut q =
                sqlx::QueryBuilder::new("UPDATE product_user_notification SET is_active = 0, ");
            q.push("updated_at = ")
                .push_bind(now)
                .push(" WHERE product_id = ")
                .push_bind(product)
                .push(" AND user_id IN ");
            push_id_list(&mut q, users);
            q.push(" AND ").push(active);
            q
        })
        .collect()
}

/// The buyers who leave each product's line with the batch's new orders: per product id,
/// the latest request time (epoch ms) and the users.
fn departures(batch: &[Placing], fresh: &[NewOrder]) -> BTreeMap<i64, (i64, Vec<i64>)> {
    let mut buyers: BTreeMap<i64, (i64, Vec<i64>)> = BTreeMap::new();
    for new in fresh {
        let p = &batch[new.index];
        let entry = buyers.entry(p.req.product_id.get()).or_default();
        entry.0 = entry.0.max(p.now.timestamp_millis());
        entry.1.push(p.req.user_id.get());
    }
    buyers
}
