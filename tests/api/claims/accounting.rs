//! The claim invariant under a randomised mix of what buyers do: after every step, free
//! stock + units in open claims + units in RESERVED and PAID orders = units stocked.

use dropline::tools::mock_receiver::MockReceiver;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, users};

crate::on_every_backend!(no_unit_is_ever_both_claimed_and_free,);

/// Free stock, units in open claims, units in RESERVED and PAID orders.
async fn count(app: &TestApp, product: i64, orders: &[(i64, i64)]) -> (i64, i64, i64) {
    let [open, ..] = app.claim_counts(product, 1).await;
    (app.stock(product).await, open, held(app, orders).await)
}

/// Units in RESERVED and PAID orders among `orders`.
async fn held(app: &TestApp, orders: &[(i64, i64)]) -> i64 {
    let mut units = 0;
    for (order, quantity) in orders {
        let status = app.order_status(*order).await;
        if status == "RESERVED" || status == "PAID" {
            units += quantity;
        }
    }
    units
}

async fn no_unit_is_ever_both_claimed_and_free(app: TestApp) {
    let receiver = MockReceiver::start().await.unwrap();
    let line = users(30);
    let (app, product) = app
        .claim_setup(&receiver, &line, json!({"per_user_limit": 2}))
        .await;
    let stocked = 6;
    app.restock_now(product, stocked).await;
    receiver.wait_for(stocked as usize).await;
    let mut rng = StdRng::seed_from_u64(12);
    let mut orders: Vec<(i64, i64)> = Vec::new();
    for step in 0..40 {
        let open: Vec<i64> = app
            .claim_states(product, 1)
            .await
            .into_iter()
            .filter(|(_, s)| s == "OPEN")
            .map(|(u, _)| u)
            .collect();
        let what = rng.random_range(0..6);
        let holder = (!open.is_empty()).then(|| open[rng.random_range(0..open.len())]);
        match (what, holder) {
            (0 | 1, Some(u)) => {
                let q = rng.random_range(1..=2);
                let (s, b) = app
                    .order_with(product, u, Some(json!({"quantity": q})), None)
                    .await;
                if s == StatusCode::CREATED {
                    orders.push((b["id"].as_i64().unwrap(), q));
                }
            }
            (2, Some(u)) => {
                assert_eq!(app.leave(product, u).await, StatusCode::NO_CONTENT);
            }
            (3, _) => {
                if let Some((order, _)) = orders.get(rng.random_range(0..orders.len().max(1))) {
                    let owner = app
                        .get(&format!("/orders/{order}"), Some(&app.admin()))
                        .await
                        .1["user_id"]
                        .as_i64()
                        .unwrap();
                    let _ = app.cancel(*order, &app.user(owner)).await;
                }
            }
            (4, _) => {
                // Somebody outside the line tries their luck.
                let (s, b) = app.order(product, 5000 + step).await;
                if s == StatusCode::CREATED {
                    orders.push((b["id"].as_i64().unwrap(), 1));
                }
            }
            _ => {
                app.expire_claims().await;
            }
        }
        // The round hands on what came back while this counts: count until two counts in a
        // row agree (each unit moves in one transaction, so a move changes two numbers).
        let mut last = count(&app, product, &orders).await;
        loop {
            let now = count(&app, product, &orders).await;
            if now == last {
                break;
            }
            last = now;
        }
        let (free, open, in_orders) = last;
        assert_eq!(
            free + open + in_orders,
            stocked,
            "step {step}: free {free}, open claims {open}, in orders {in_orders}"
        );
        assert!(free >= 0 && open >= 0, "step {step}");
    }
}
