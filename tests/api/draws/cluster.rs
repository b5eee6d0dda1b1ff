//! Two instances sharing a database and Redis race for one draw: it runs exactly once; the
//! same users entering through both at once each get one entry.

use reqwest::StatusCode;
use serde_json::json;

use super::expected_draw;
use crate::helpers::{Db, TestApp};

async fn two_instances_racing_for_a_draw_run_it_exactly_once(db: Db) {
    let Some(apps) = TestApp::spawn_cluster(db, 2).await else {
        return;
    };
    let (a, b) = (&apps[0], &apps[1]);
    let product = a.draw_product(3, json!({})).await;
    let users: Vec<i64> = (1..=8).collect();
    for (i, user) in users.iter().enumerate() {
        // Entries arrive through both instances.
        apps[i % 2].entered(product, *user, 1).await;
    }

    a.close_windows();
    b.close_windows();
    let (da, db_) = tokio::join!(a.draw_step(), b.draw_step());

    // The workers race too: whoever ran it, it ran once, and no step ran it twice.
    assert!(da.draws + db_.draws <= 1);
    let draw = b.draw(product).await;
    assert_eq!(draw["status"], "DRAWN");
    let seed = draw["seed"].as_str().unwrap();
    let entries: Vec<(i64, i64)> = users.iter().map(|u| (*u, 1)).collect();
    let (_, winners) = expected_draw(seed, &entries, 3);
    for user in &users {
        let orders = a.orders_of(*user).await;
        assert_eq!(
            orders.len(),
            usize::from(winners.contains(user)),
            "user {user}: {orders:?}"
        );
    }
    let listed = a.draw_entries(product, 100).await;
    let won = listed.iter().filter(|e| e["status"] == "WON").count();
    assert_eq!(won, 3);
    assert_eq!(a.stock(product).await, 0);
    assert_eq!(b.stock(product).await, 0);
}

crate::on_each_database!(two_instances_racing_for_a_draw_run_it_exactly_once: sqlite_two_instances_racing_for_a_draw_run_it_exactly_once, mysql_two_instances_racing_for_a_draw_run_it_exactly_once;);

/// Each user enters through both instances at once (quantity 1 through one, 2 through the
/// other): each batch writer finds the other's row or loses the insert race, and either way
/// the user has one entry, created once, with the quantity of the answer that replaced it.
async fn the_same_users_entering_through_two_instances_get_one_entry_each(db: Db) {
    let Some(apps) = TestApp::spawn_cluster(db, 2).await else {
        return;
    };
    let (a, b) = (&apps[0], &apps[1]);
    let product = a.draw_product(3, json!({"per_user_limit": 2})).await;
    let users: Vec<i64> = (1..=30).collect();
    let answers = futures::future::join_all(users.iter().map(|&user| async move {
        tokio::join!(
            a.enter(product, user, Some(1)),
            b.enter(product, user, Some(2))
        )
    }))
    .await;
    let listed = a.draw_entries(product, 100).await;
    for (user, ((sa, ea), (sb, eb))) in users.iter().zip(&answers) {
        let mut statuses = [*sa, *sb];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CREATED],
            "user {user}: {ea} {eb}"
        );
        assert_eq!(ea["quantity"], 1);
        assert_eq!(eb["quantity"], 2);
        let replaced = if *sa == StatusCode::OK { 1 } else { 2 };
        let mine: Vec<_> = listed.iter().filter(|e| e["user_id"] == *user).collect();
        assert_eq!(mine.len(), 1, "user {user}: {listed:?}");
        assert_eq!(mine[0]["quantity"], replaced, "user {user}");
    }
    assert_eq!(b.draw(product).await["entries"], 30);
}

crate::on_each_database!(the_same_users_entering_through_two_instances_get_one_entry_each: sqlite_the_same_users_entering_through_two_instances_get_one_entry_each, mysql_the_same_users_entering_through_two_instances_get_one_entry_each;);
