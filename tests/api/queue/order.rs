//! The room's order: who joined before the sale is ranked by SHA-256 of "{seed}:{user_id}"
//! ascending, recomputable from the revealed seed and the member list; later joiners follow
//! in join order, and admissions follow that order.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

crate::on_every_backend!(
    early_joiners_are_ranked_by_the_revealed_seed_and_later_ones_follow_in_join_order,
    places_and_admissions_follow_the_published_order,
);

/// The early users in the order their rank keys give, recomputed from `seed`.
fn ranked(seed: &str, users: &[i64]) -> Vec<i64> {
    let mut keyed: Vec<(String, i64)> = users
        .iter()
        .map(|u| (dropline::domain::draws::rank_key(seed, *u), *u))
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, u)| u).collect()
}

fn user_ids(members: &[Value]) -> Vec<i64> {
    members
        .iter()
        .map(|m| m["user_id"].as_i64().unwrap())
        .collect()
}

async fn early_joiners_are_ranked_by_the_revealed_seed_and_later_ones_follow_in_join_order(
    app: TestApp,
) {
    let id = app.queued_product(100, json!({})).await;
    let early: Vec<i64> = (1..=9).rev().collect();
    app.joined(id, &early).await;
    app.start_sale();
    app.joined(id, &[30, 20, 40]).await;

    let (_, product) = app.get(&format!("/products/{id}"), None).await;
    let seed = product["queue_seed"]
        .as_str()
        .expect("seed revealed")
        .to_owned();
    let members = app.queue_members(id, 4).await;
    let mut expected = ranked(&seed, &early);
    expected.extend([30, 20, 40]);
    assert_eq!(user_ids(&members), expected);
    for m in &members {
        let user = m["user_id"].as_i64().unwrap();
        if early.contains(&user) {
            assert_eq!(m["joined_before_start"], true, "{m}");
            assert_eq!(
                m["rank_key"],
                dropline::domain::draws::rank_key(&seed, user),
                "{m}"
            );
        } else {
            assert_eq!(m["joined_before_start"], false, "{m}");
            assert!(m["rank_key"].is_null(), "{m}");
        }
    }
    // The order does not depend on the page size.
    assert_eq!(user_ids(&app.queue_members(id, 100).await), expected);
}

async fn places_and_admissions_follow_the_published_order(app: TestApp) {
    let id = app.queued_product(2, json!({"per_user_limit": 1})).await;
    let early = [11, 12, 13, 14, 15];
    app.joined(id, &early).await;
    app.start_sale();
    app.queue_step().await;
    let order = user_ids(&app.queue_members(id, 10).await);
    let states = app.queue_states(id, &order).await;
    assert_eq!(
        states,
        super::states(&["ADMITTED", "ADMITTED", "WAITING", "WAITING", "WAITING"])
    );
    // Each waiter waits behind the two units the admissions hold and one unit per waiter ahead.
    for (i, user) in order[2..].iter().enumerate() {
        let (s, b) = app.standing(id, *user).await;
        assert_eq!(s, StatusCode::OK);
        let place = i as i64 + 1;
        assert_eq!(
            b,
            json!({"state": "WAITING", "place": place, "units_ahead": place + 1})
        );
    }
    let (_, first) = app.standing(id, order[0]).await;
    assert!(first["admitted_until"].is_string(), "{first}");
}
