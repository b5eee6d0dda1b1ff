//! The order path dropped at each of its await points, deterministically: a future polled n
//! times and then dropped, for every n until it completes. Whatever was committed is fully
//! accounted (gate, stock and orders agree); what was not leaves no trace.

use dropline::auth::Principal;
use dropline::domain::ids::{OrderId, ProductId, UserId};
use dropline::domain::order::{IdempotencyKey, OrderRequest, Quantity};
use dropline::shop::orders;
use serde_json::json;

use crate::helpers::{PollAtMost, TestApp, assert_accounted, settled};

crate::on_every_backend!(
    an_order_dropped_at_any_await_is_committed_whole_or_not_at_all,
    a_cancel_dropped_at_any_await_returns_its_units_exactly_once,
);

/// The same cases on several instances sharing one database and Redis.
mod instances {
    use super::*;
    crate::on_every_cluster!(an_order_dropped_at_any_await_is_accounted_in_redis);
}

fn request(product: i64, user: i64, key: Option<&str>) -> OrderRequest {
    OrderRequest {
        product_id: ProductId::from_db(product),
        user_id: UserId::from_db(user),
        quantity: Quantity::try_from(1).expect("quantity"),
        idempotency_key: key.map(|k| IdempotencyKey::try_from(k).expect("key")),
    }
}

/// Drops `place` after 0, 1, 2, … polls until one run completes within its budget.
async fn drop_at_every_await(app: &TestApp, product: i64, stocked: i64) {
    let baseline = app.state.tasks.len();
    let mut completed = false;
    for n in 0..200usize {
        let user = 10_000 + n as i64;
        let req = request(product, user, Some("drop-test"));
        let outcome = PollAtMost::new(orders::place(&app.state.shop(), &req), n).await;
        settled(app, product, baseline).await;
        assert_accounted(app, product, stocked).await;
        // A retry with the key answers with the order if the dropped request committed it.
        let (status, body) = app.order_with(product, user, None, Some("drop-test")).await;
        assert!(status == 200 || status == 201, "{status} {body}");
        if outcome.is_some() {
            assert_eq!(status, 200, "a completed placement replays");
            completed = true;
            break;
        }
    }
    assert!(completed, "the order never completed within 200 polls");
    settled(app, product, baseline).await;
    assert_accounted(app, product, stocked).await;
}

async fn an_order_dropped_at_any_await_is_committed_whole_or_not_at_all(app: TestApp) {
    let product = app
        .product(json!({ "stock": 500, "per_user_limit": 1 }))
        .await;
    drop_at_every_await(&app, product, 500).await;
}

async fn an_order_dropped_at_any_await_is_accounted_in_redis(apps: Vec<TestApp>) {
    let product = apps[0]
        .product(json!({ "stock": 500, "per_user_limit": 1 }))
        .await;
    drop_at_every_await(&apps[1], product, 500).await;
    assert_accounted(&apps[0], product, 500).await;
}

async fn a_cancel_dropped_at_any_await_returns_its_units_exactly_once(app: TestApp) {
    let product = app
        .product(json!({ "stock": 300, "per_user_limit": 1 }))
        .await;
    let baseline = app.state.tasks.len();
    for n in 0..100usize {
        let user = 20_000 + n as i64;
        let order = app.reserve(product, user).await;
        let who = Principal::User(UserId::from_db(user));
        let outcome = PollAtMost::new(
            orders::cancel(&app.state.shop(), &who, OrderId::from_db(order)),
            n,
        )
        .await;
        settled(&app, product, baseline).await;
        assert_accounted(&app, product, 300).await;
        assert_eq!(app.cancel(order, &app.user(user)).await.0, 200);
        settled(&app, product, baseline).await;
        assert_accounted(&app, product, 300).await;
        if outcome.is_some() {
            assert_eq!(app.stock(product).await, 300);
            return;
        }
    }
    panic!("the cancel never completed within 100 polls");
}
