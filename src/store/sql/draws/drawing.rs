//! The draw and the waitlist, each one transaction: the draw claims its product with a
//! conditional update first, so it runs once however many instances try; ranks are numbered
//! in the database and appended to `draw_rank` in rank order (one statement, the entries
//! themselves are not rewritten), winners get ordinary RESERVED orders, written in chunks.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Database, FromRow, QueryBuilder, Transaction};

use super::super::{Db, SqlStore, add_stock, lock_product};
use crate::domain::draws::{DrawOutcome, EntriesDigest, Win};
use crate::domain::ids::ProductId;
use crate::store::StoreResult;
use crate::store::draws::WinRow;
use crate::store::retry::lock_races;
use crate::store::rows::push_id_list;

type Tx = Transaction<'static, Db>;

/// Entries read per page while walking the ranks or the user ids.
const PAGE: i64 = 10_000;
/// Rows per multi-row statement (7 values an order: well under every bound-variable limit).
const CHUNK: usize = 1000;

/// The product's figures the draw and the waitlist need, read with its row locked.
#[derive(Debug, sqlx::FromRow)]
struct Locked {
    stock: i64,
    hold_seconds: i64,
    drawn_at: Option<i64>,
}

/// One page of a keyset walk: `sql` takes the three `binds` (product, the key to go on
/// after, a bound) and then the page size.
async fn page<R>(tx: &mut Tx, sql: &'static str, binds: [i64; 3]) -> StoreResult<Vec<R>>
where
    R: for<'r> FromRow<'r, <Db as Database>::Row> + Send + Unpin,
{
    let mut q = sqlx::query_as::<Db, R>(sql);
    for b in binds {
        q = q.bind(b);
    }
    Ok(q.bind(PAGE).fetch_all(&mut **tx).await?)
}

async fn locked(tx: &mut Tx, product: ProductId) -> StoreResult<Option<Locked>> {
    lock_product(tx, product, "stock, hold_seconds, drawn_at").await
}

/// Runs the draw of `product` if it is due and nobody ran it; records the product's free
/// stock then as the units drawn for.
pub(super) async fn run_draw(
    store: &SqlStore,
    product: ProductId,
    now: DateTime<Utc>,
    notify_lease: DateTime<Utc>,
) -> StoreResult<Option<DrawOutcome>> {
    lock_races("draw", || async {
        let now_ms = now.timestamp_millis();
        let mut tx = store.write_tx().await?;
        let claimed = sqlx::query(
            "UPDATE product SET drawn_at = ? WHERE id = ? AND sale_mode = 'draw' \
             AND drawn_at IS NULL AND sale_ends_at <= ?",
        )
        .bind(now_ms)
        .bind(product.get())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            return Ok(None);
        }
        let Some(p) = locked(&mut tx, product).await? else {
            return Ok(None);
        };
        let entries = number(&mut tx, product, 0, "ENTERED", "draw_key").await?;
        number(&mut tx, product, entries, "WITHDRAWN", "user_id").await?;
        let digest = digest(&mut tx, product, entries).await?;
        sqlx::query(
            "UPDATE product SET entries_digest = ?, draw_entries = ?, draw_units = ? WHERE id = ?",
        )
        .bind(digest)
        .bind(entries)
        .bind(p.stock)
        .bind(product.get())
        .execute(&mut *tx)
        .await?;
        let outcome = offer(&mut tx, product, &p, now_ms, notify_lease).await?;
        tx.commit().await?;
        Ok(Some(outcome))
    })
    .await
}

/// Offers the free units of a drawn product down its waitlist.
pub(super) async fn promote(
    store: &SqlStore,
    product: ProductId,
    now: DateTime<Utc>,
    notify_lease: DateTime<Utc>,
) -> StoreResult<DrawOutcome> {
    lock_races("waitlist promotion", || async {
        let now_ms = now.timestamp_millis();
        let mut tx = store.write_tx().await?;
        let Some(p) = locked(&mut tx, product).await? else {
            return Ok(DrawOutcome::default());
        };
        if p.drawn_at.is_none() {
            return Ok(DrawOutcome::default());
        }
        let outcome = offer(&mut tx, product, &p, now_ms, notify_lease).await?;
        tx.commit().await?;
        Ok(outcome)
    })
    .await
}

/// Gives the product's free units to the waitlist by rank and records the stock version
/// they were offered at.
async fn offer(
    tx: &mut Tx,
    product: ProductId,
    p: &Locked,
    now_ms: i64,
    notify_lease: DateTime<Utc>,
) -> StoreResult<DrawOutcome> {
    let picked = pick(tx, product, p.stock).await?;
    let outcome = place_wins(tx, product, &picked, now_ms, p.hold_seconds, notify_lease).await?;
    sqlx::query("UPDATE product SET waitlist_version = stock_version WHERE id = ?")
        .bind(product.get())
        .execute(&mut **tx)
        .await?;
    Ok(outcome)
}

/// The digest of the `entries` ranked entries that take part, by ascending user id (read
/// from their rank rows, whose index by user covers it).
async fn digest(tx: &mut Tx, product: ProductId, entries: i64) -> StoreResult<String> {
    let mut d = EntriesDigest::default();
    let mut after = 0_i64;
    loop {
        let rows: Vec<(i64, i64)> = page(
            tx,
            "SELECT user_id, quantity FROM draw_rank WHERE product_id = ? AND user_id > ? \
             AND list_pos <= ? ORDER BY user_id LIMIT ?",
            [product.get(), after, entries],
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.0;
        for (user, quantity) in &rows {
            d.add(*user, *quantity);
        }
    }
    Ok(d.finish())
}

/// Appends the product's entries of `status`, numbered by `order`, to its list after the
/// first `base` places, in one statement; answers how many it listed.
async fn number(
    tx: &mut Tx,
    product: ProductId,
    base: i64,
    status: &'static str,
    order: &'static str,
) -> StoreResult<i64> {
    let sql = format!(
        "INSERT INTO draw_rank (product_id, list_pos, user_id, quantity) \
         SELECT product_id, ? + ROW_NUMBER() OVER (ORDER BY {order}), user_id, quantity \
         FROM draw_entry WHERE product_id = ? AND status = '{status}'"
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(base)
        .bind(product.get())
        .execute(&mut **tx)
        .await?;
    Ok(i64::try_from(done.rows_affected()).unwrap_or(i64::MAX))
}

/// Walks the waitlist by rank with `units` free: `(user, quantity)` of each entry whose
/// whole quantity fits in what is left, in rank order.
async fn pick(tx: &mut Tx, product: ProductId, units: i64) -> StoreResult<Vec<(i64, i64)>> {
    let mut left = units;
    let mut after = 0_i64;
    let mut won = Vec::new();
    while left > 0 {
        let rows: Vec<(i64, i64, i64)> = page(
            tx,
            "SELECT r.user_id, r.quantity, r.list_pos FROM draw_rank r JOIN draw_entry e \
             ON e.product_id = r.product_id AND e.user_id = r.user_id \
             WHERE r.product_id = ? AND r.list_pos > ? AND r.quantity <= ? \
             AND e.status = 'ENTERED' ORDER BY r.list_pos LIMIT ?",
            [product.get(), after, left],
        )
        .await?;
        if rows.is_empty() {
            break;
        }
        for (user, quantity, rank) in rows {
            after = rank;
            if quantity <= left {
                left -= quantity;
                won.push((user, quantity));
                if left == 0 {
                    break;
                }
            }
        }
    }
    Ok(won)
}

/// Gives each picked entry a RESERVED order with the product's hold, takes their units from
/// stock and marks the entries WON, their notification held by this instance until
/// `notify_lease`. Answers the wins in rank order.
async fn place_wins(
    tx: &mut Tx,
    product: ProductId,
    picked: &[(i64, i64)],
    now_ms: i64,
    hold_seconds: i64,
    notify_lease: DateTime<Utc>,
) -> StoreResult<DrawOutcome> {
    if picked.is_empty() {
        return Ok(DrawOutcome::default());
    }
    let units: i64 = picked.iter().map(|(_, q)| q).sum();
    let stock_version = add_stock(tx, product.get(), -units).await?;
    let expires_at = now_ms + hold_seconds * 1000;
    let mut wins: Vec<Win> = Vec::with_capacity(picked.len());
    for chunk in picked.chunks(CHUNK) {
        let mut insert = QueryBuilder::new(
            "INSERT INTO orders (product_id, user_id, quantity, status, created_at, \
             expires_at, updated_at) ",
        );
        insert.push_values(chunk, |mut b, (user, quantity)| {
            b.push_bind(product.get())
                .push_bind(*user)
                .push_bind(*quantity)
                .push_bind("RESERVED")
                .push_bind(now_ms)
                .push_bind(expires_at)
                .push_bind(now_ms);
        });
        insert.build().execute(&mut **tx).await?;
        // Each winner has one order of this product: no entry wins twice, and a draw product
        // takes no other order.
        let mut mark = QueryBuilder::new("UPDATE draw_entry SET status = 'WON', order_id = ");
        mark.push(
            "(SELECT MAX(o.id) FROM orders o WHERE o.product_id = draw_entry.product_id \
             AND o.user_id = draw_entry.user_id), notify_lease = ",
        )
        .push_bind(notify_lease.timestamp_millis())
        .push(", updated_at = ")
        .push_bind(now_ms)
        .push(" WHERE product_id = ")
        .push_bind(product.get())
        .push(" AND status = 'ENTERED' AND user_id IN ");
        push_id_list(&mut mark, chunk.iter().map(|(u, _)| *u));
        mark.build().execute(&mut **tx).await?;
        let mut read = QueryBuilder::new(
            "SELECT e.product_id, e.user_id, e.order_id, e.quantity, o.expires_at, r.list_pos \
             FROM draw_entry e JOIN orders o ON o.id = e.order_id JOIN draw_rank r \
             ON r.product_id = e.product_id AND r.user_id = e.user_id WHERE e.product_id = ",
        );
        read.push_bind(product.get()).push(" AND e.user_id IN ");
        push_id_list(&mut read, chunk.iter().map(|(u, _)| *u));
        read.push(" ORDER BY r.list_pos");
        let rows: Vec<WinRow> = read.build_query_as().fetch_all(&mut **tx).await?;
        wins.extend(rows.into_iter().map(Win::from));
    }
    wins.sort_by_key(|w| w.rank);
    Ok(DrawOutcome {
        wins,
        units,
        stock_version,
    })
}
