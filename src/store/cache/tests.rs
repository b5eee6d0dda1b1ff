use super::*;
use crate::domain::product::LinePolicy;

fn product(id: i64, stock: i64) -> Product {
    let t = chrono::DateTime::UNIX_EPOCH;
    Product {
        id: ProductId::from_db(id),
        name: "Tent".into(),
        brand_ids: vec![],
        price: 1000,
        stock,
        restock_round: 0,
        sale_starts_at: None,
        sale_ends_at: None,
        per_user_limit: 1,
        hold_seconds: 1800,
        line_policy: LinePolicy::Restart,
        sale_mode: Default::default(),
        draw_seed_hash: None,
        alert: Default::default(),
        queue: Default::default(),
        queue_seed_hash: None,
        queue_seed: None,
        created_at: t,
        updated_at: t,
    }
}

fn miss(cache: &ProductCache, id: i64) -> Ticket {
    match cache.get(ProductId::from_db(id)) {
        Lookup::Miss(t) => t,
        other => panic!("expected a miss, got {other:?}"),
    }
}

fn stock(cache: &ProductCache, id: i64) -> Option<i64> {
    match cache.get(ProductId::from_db(id)) {
        Lookup::Hit(p) => Some(p.stock),
        _ => None,
    }
}

#[test]
fn a_filled_entry_is_served_until_its_product_changes() {
    let cache = ProductCache::local();
    let t = miss(&cache, 1);
    cache.fill(t, &product(1, 5));
    assert_eq!(stock(&cache, 1), Some(5));
    cache.changed(Change::Product(ProductId::from_db(1)));
    assert_eq!(stock(&cache, 1), None);
}

#[test]
fn a_read_overlapped_by_a_change_is_not_kept() {
    let cache = ProductCache::local();
    // The product has a slot.
    cache.fill(miss(&cache, 1), &product(1, 5));
    cache.invalidate(ProductId::from_db(1));
    let t = miss(&cache, 1);
    cache.invalidate(ProductId::from_db(1));
    cache.fill(t, &product(1, 5));
    assert_eq!(stock(&cache, 1), None);
    // The product has none yet.
    let t = miss(&cache, 2);
    cache.invalidate(ProductId::from_db(2));
    cache.fill(t, &product(2, 5));
    assert_eq!(stock(&cache, 2), None);
    // Dropping everything voids every read in flight.
    let t = miss(&cache, 3);
    cache.invalidate_all();
    cache.fill(t, &product(3, 5));
    assert_eq!(stock(&cache, 3), None);
    // A read after the change is kept.
    cache.fill(miss(&cache, 1), &product(1, 4));
    assert_eq!(stock(&cache, 1), Some(4));
}

/// A local copy holding the products of these (id, stock) pairs.
fn holding(products: &[(i64, i64)]) -> ProductCache {
    let cache = ProductCache::local();
    for (id, stock) in products {
        cache.fill(miss(&cache, *id), &product(*id, *stock));
    }
    cache
}

#[test]
fn nothing_of_a_product_is_served_or_kept_while_a_write_of_it_is_in_flight() {
    let cache = holding(&[(1, 5), (2, 7)]);
    let writing = Changing::new(&cache, ProductId::from_db(1));
    // Between the write's commit and its end, the old entry is not served...
    assert_eq!(stock(&cache, 1), None);
    // ...and a read made meanwhile is not kept, nor a read that started before.
    let during = miss(&cache, 1);
    cache.fill(during, &product(1, 5));
    assert_eq!(stock(&cache, 1), None);
    // Other products are served as before.
    assert_eq!(stock(&cache, 2), Some(7));
    // Dropping everything meanwhile does not forget the write in flight.
    cache.invalidate_all();
    cache.fill(miss(&cache, 1), &product(1, 5));
    assert_eq!(stock(&cache, 1), None);
    drop(writing);
    cache.fill(during, &product(1, 5));
    assert_eq!(stock(&cache, 1), None, "a read overlapped by the write");
    cache.fill(miss(&cache, 1), &product(1, 4));
    assert_eq!(stock(&cache, 1), Some(4));
}

#[test]
fn a_sweep_holds_every_entry_back_until_it_answered() {
    let cache = holding(&[(1, 5), (2, 7)]);
    let sweeping = Sweeping::new(&cache);
    assert_eq!(stock(&cache, 1), None);
    assert_eq!(stock(&cache, 2), None);
    let t = miss(&cache, 3);
    cache.fill(t, &product(3, 1));
    assert_eq!(stock(&cache, 3), None);
    // The sweep changed product 1: dropped from its answer, before the bracket ends.
    cache.changed(Change::Product(ProductId::from_db(1)));
    sweeping.answered();
    assert_eq!(stock(&cache, 1), None);
    assert_eq!(
        stock(&cache, 2),
        Some(7),
        "unchanged products are served again"
    );
    // A sweep abandoned halfway may have changed anything.
    drop(Sweeping::new(&cache));
    assert_eq!(stock(&cache, 2), None);
}

#[test]
fn a_change_bracket_drops_the_entry_even_when_abandoned() {
    let cache = ProductCache::local();
    cache.fill(miss(&cache, 1), &product(1, 5));
    drop(Changing::new(&cache, ProductId::from_db(1)));
    assert_eq!(stock(&cache, 1), None);
    // A read that started before the write finished is not kept either.
    let t = miss(&cache, 1);
    drop(Changing::new(&cache, ProductId::from_db(1)));
    cache.fill(t, &product(1, 5));
    assert_eq!(stock(&cache, 1), None);
}

#[test]
fn a_fed_copy_serves_only_while_its_feed_is_heard() {
    let (cache, mut changes) = ProductCache::fed();
    assert!(matches!(cache.get(ProductId::from_db(1)), Lookup::Bypass));
    cache.heard();
    cache.fill(miss(&cache, 1), &product(1, 5));
    assert_eq!(stock(&cache, 1), Some(5));
    let t = miss(&cache, 2);
    cache.feed_lost();
    cache.fill(t, &product(2, 5));
    assert!(matches!(cache.get(ProductId::from_db(1)), Lookup::Bypass));
    cache.heard();
    assert_eq!(
        stock(&cache, 1),
        None,
        "what was held before the loss is gone"
    );
    assert_eq!(stock(&cache, 2), None);
    cache.changed(Change::Product(ProductId::from_db(9)));
    assert_eq!(
        changes.try_recv().ok(),
        Some(Change::Product(ProductId::from_db(9)))
    );
}
