//! Row shapes shared by both backends, and their conversion to domain types.

use crate::domain::brand::{Brand, BrandCategory};
use crate::domain::claim::{AlertMode, AlertSettings};
use crate::domain::clock::from_millis;
use crate::domain::draws::SaleMode;
use crate::domain::ids::{BrandId, ProductId, UserId};
use crate::domain::product::{LinePolicy, Product};
use crate::domain::queue::QueueSettings;
use crate::domain::subscription::Subscription;

/// Columns every product query selects, with the brand list folded into text.
#[derive(Debug, sqlx::FromRow)]
pub struct ProductRow {
    id: i64,
    name: String,
    brand_ids: Option<String>,
    price: i64,
    stock: i64,
    restock_round: i64,
    sale_starts_at: Option<i64>,
    sale_ends_at: Option<i64>,
    per_user_limit: i64,
    hold_seconds: i64,
    line_policy: String,
    sale_mode: String,
    draw_seed_hash: Option<String>,
    alert_mode: String,
    claim_seconds: i64,
    queue_enabled: i64,
    queue_opens_at: Option<i64>,
    queue_admit_seconds: i64,
    queue_admit_rate: i64,
    queue_seed_hash: Option<String>,
    queue_seed: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ProductRow> for Product {
    fn from(r: ProductRow) -> Self {
        let mut brand_ids: Vec<BrandId> = r
            .brand_ids
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter_map(|s| s.trim().parse::<i64>().ok())
            .map(BrandId::from_db)
            .collect();
        brand_ids.sort();
        Product {
            id: ProductId::from_db(r.id),
            name: r.name,
            brand_ids,
            price: r.price,
            stock: r.stock,
            restock_round: r.restock_round,
            sale_starts_at: r.sale_starts_at.map(from_millis),
            sale_ends_at: r.sale_ends_at.map(from_millis),
            per_user_limit: r.per_user_limit,
            hold_seconds: r.hold_seconds,
            line_policy: LinePolicy::from_db(&r.line_policy),
            sale_mode: SaleMode::from_db(&r.sale_mode),
            draw_seed_hash: r.draw_seed_hash,
            alert: AlertSettings {
                alert_mode: AlertMode::from_db(&r.alert_mode),
                claim_seconds: r.claim_seconds,
            },
            queue: QueueSettings {
                enabled: r.queue_enabled != 0,
                opens_at: r.queue_opens_at.map(from_millis),
                admit_seconds: r.queue_admit_seconds,
                admit_rate: r.queue_admit_rate,
            },
            queue_seed_hash: r.queue_seed_hash,
            queue_seed: r.queue_seed,
            created_at: from_millis(r.created_at),
            updated_at: from_millis(r.updated_at),
        }
    }
}

/// A brand row.
#[derive(Debug, sqlx::FromRow)]
pub struct BrandRow {
    id: i64,
    name: String,
    category: String,
}

impl From<BrandRow> for Brand {
    fn from(r: BrandRow) -> Self {
        Brand {
            id: BrandId::from_db(r.id),
            name: r.name,
            category: BrandCategory::from_db(&r.category),
        }
    }
}

/// A line row.
#[derive(Debug, sqlx::FromRow)]
pub struct LineRow {
    pub id: i64,
    pub product_id: i64,
    pub user_id: i64,
    pub is_active: i64,
    pub created_at: i64,
}

impl From<LineRow> for Subscription {
    fn from(r: LineRow) -> Self {
        Subscription {
            position: r.id,
            product_id: ProductId::from_db(r.product_id),
            user_id: UserId::from_db(r.user_id),
            active: r.is_active != 0,
            created_at: from_millis(r.created_at),
        }
    }
}

/// Splits an import into the users to append (first occurrence, in order) and the repeats.
pub fn dedupe_in_order(users: &[UserId]) -> (Vec<UserId>, u64) {
    let mut seen = std::collections::HashSet::with_capacity(users.len());
    let mut fresh = Vec::with_capacity(users.len());
    for u in users {
        if seen.insert(*u) {
            fresh.push(*u);
        }
    }
    let repeats = (users.len() - fresh.len()) as u64;
    (fresh, repeats)
}

/// Appends `(a, b, c)` with one bound integer per id: the body of an `IN` list. The list is
/// padded (its last id repeated, which an `IN` ignores) to one of a few lengths, so that a
/// statement built around it takes few shapes: each shape is a prepared statement in the
/// driver's cache, and a cache that overflows closes statements, which on MySQL costs a
/// delayed-ACK stall (about 40 ms) on the next request of that connection.
pub fn push_id_list<DB>(q: &mut sqlx::QueryBuilder<DB>, ids: impl IntoIterator<Item = i64>)
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let ids: Vec<i64> = ids.into_iter().collect();
    q.push("(");
    let mut list = q.separated(", ");
    for id in &ids {
        list.push_bind(*id);
    }
    if let Some(last) = ids.last() {
        for _ in ids.len()..padded_len(ids.len()) {
            list.push_bind(*last);
        }
    }
    q.push(")");
}

/// The length a list of `n` is padded to: the next power of two up to 256, then the next
/// multiple of 256.
pub fn padded_len(n: usize) -> usize {
    if n <= 256 {
        n.next_power_of_two()
    } else {
        n.div_ceil(256) * 256
    }
}

/// How one chunk of an import lands in the line.
#[derive(Debug, Default)]
pub struct ImportPlan {
    /// Users already in line: their places are kept.
    pub already_active: u64,
    /// Rows of users who had left: removed, so that they rejoin at the back.
    pub stale: Vec<i64>,
    /// Users to append, in the order given.
    pub append: Vec<UserId>,
}

/// Decides, for one chunk of an import, who keeps a place and who is appended.
pub fn plan_import(chunk: &[UserId], existing: Vec<LineRow>) -> ImportPlan {
    let existing: std::collections::HashMap<i64, LineRow> =
        existing.into_iter().map(|r| (r.user_id, r)).collect();
    let mut plan = ImportPlan::default();
    for u in chunk {
        match existing.get(&u.get()) {
            Some(row) if row.is_active != 0 => plan.already_active += 1,
            Some(row) => {
                plan.stale.push(row.id);
                plan.append.push(*u);
            }
            None => plan.append.push(*u),
        }
    }
    plan
}

/// Rows per multi-row statement: keeps every backend well under its bound-variable limit.
pub const BATCH_ROWS: usize = 1000;

#[cfg(test)]
mod tests {
    use super::padded_len;

    #[test]
    fn lists_pad_to_few_lengths() {
        let lens: Vec<usize> = [1, 2, 3, 5, 9, 100, 256, 257, 700]
            .into_iter()
            .map(padded_len)
            .collect();
        assert_eq!(lens, [1, 2, 4, 8, 16, 128, 256, 512, 768]);
        let shapes: std::collections::BTreeSet<usize> = (1..=256).map(padded_len).collect();
        assert_eq!(shapes.len(), 9);
    }
}
