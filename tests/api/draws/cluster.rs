//! Two instances sharing a database and Redis race for one draw: it runs exactly once.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_instances_racing_for_a_draw_run_it_exactly_once() {
    two_instances_racing_for_a_draw_run_it_exactly_once(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_two_instances_racing_for_a_draw_run_it_exactly_once() {
    if crate::helpers::mysql_url().is_some() {
        two_instances_racing_for_a_draw_run_it_exactly_once(Db::Mysql).await;
    }
}
