//! What a room's members can do with its outcome: check its order with `dropline queue
//! verify` from the saved member pages, join the restock line with one call once sold out;
//! the admin's admissions per second; and a client that drops mid-join changes nothing.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

use super::counts;
use crate::helpers::{TestApp, abandon};

crate::on_every_backend!(
    a_room_verifies_from_its_saved_member_pages_with_the_binary,
    sold_out_waiters_join_the_restock_line_with_one_call,
    the_admin_counts_admissions_per_second_over_the_last_minute,
    a_client_that_drops_mid_join_changes_nothing,
);

/// Runs `dropline queue verify` with `args`; answers its exit code, stdout and stderr.
fn run_verify(args: &[String]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dropline"))
        .args(["queue", "verify"])
        .args(args)
        .output()
        .expect("run dropline");
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

async fn a_room_verifies_from_its_saved_member_pages_with_the_binary(app: TestApp) {
    let id = app.queued_product(100, json!({})).await;
    let early: Vec<i64> = (1..=9).collect();
    app.joined(id, &early).await;
    app.start_sale();
    app.joined(id, &[40, 20]).await;
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let product = app.get(&format!("/products/{id}"), None).await.1;
    assert!(product["queue_seed"].is_string(), "{product}");
    let mut args = vec![
        "--product".to_owned(),
        save("product.json", product.to_string()),
    ];
    let pages = app
        .every_page(&format!("/admin/products/{id}/queue/members"), 4)
        .await;
    assert_eq!(pages.len(), 3);
    for (i, page) in pages.iter().enumerate() {
        args.push("--members".into());
        args.push(save(&format!("members-{i}.json"), page.to_string()));
    }
    let (code, stdout, stderr) = run_verify(&args);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("members: 11 (9 joined before the start, 2 after)"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("verified: seed-hash rank-keys order\n"),
        "{stdout}"
    );
    // The later joiners follow in join order: 40 before 20.
    let places: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("10 ") || l.starts_with("11 "))
        .collect();
    assert!(
        places[0].starts_with("10 40 ") && places[1].starts_with("11 20 "),
        "{places:?}"
    );

    // A list whose order was changed fails, naming the member out of place.
    let mut first = pages[0].clone();
    let items = first["items"].as_array_mut().unwrap();
    items.swap(0, 1);
    let moved = items[0]["user_id"].as_i64().unwrap();
    let mut bad = args.clone();
    bad[3] = save("members-0-swapped.json", first.to_string());
    let (code, _, stderr) = run_verify(&bad);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&format!(
            "user {} at place 2",
            pages[0]["items"][0]["user_id"]
        )),
        "{stderr} ({moved})"
    );
    // Another seed does not hash to the published one.
    let (code, _, stderr) =
        run_verify(&[vec!["--seed".to_owned(), "ab".repeat(32)], args.clone()].concat());
    assert_eq!(code, Some(1));
    assert!(stderr.contains("published"), "{stderr}");
}

async fn sold_out_waiters_join_the_restock_line_with_one_call(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    app.joined(id, &[1, 2, 3]).await;
    app.start_sale();
    app.queue_step().await;
    let order = app.in_queue_order(id).await;
    assert_eq!(app.order(id, order[0]).await.0, StatusCode::CREATED);
    app.queue_step().await;
    assert_eq!(app.queue_state(id, order[1]).await, "SOLD_OUT");
    assert_eq!(app.join(id, order[1]).await, StatusCode::CREATED);
    assert_eq!(app.join(id, order[2]).await, StatusCode::CREATED);
    assert_eq!(app.line(id).await, vec![order[1], order[2]]);
}

async fn the_admin_counts_admissions_per_second_over_the_last_minute(app: TestApp) {
    let id = app
        .queued_product(10, json!({"queue": {"enabled": true, "admit_rate": 2}}))
        .await;
    app.joined(id, &[1, 2, 3, 4, 5]).await;
    app.start_sale();
    for _ in 0..3 {
        app.queue_step().await;
        app.state.clock.advance(Duration::from_secs(1));
    }
    let c = app.queue_counts(id).await;
    assert_eq!(counts(&c), [0, 5, 0, 0, 0, 0]);
    let seconds: Vec<i64> = c["admitted_per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_i64().unwrap())
        .collect();
    assert_eq!(seconds.len(), 60);
    // Oldest first: the three seconds of admissions end one second before now.
    assert_eq!(seconds[56..], [2, 2, 1, 0]);
    assert_eq!(seconds.iter().sum::<i64>(), 5);
    // A minute later they have left the window.
    app.state.clock.advance(Duration::from_secs(60));
    let c = app.queue_counts(id).await;
    assert!(
        c["admitted_per_second"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n == 0),
        "{c}"
    );
}

async fn a_client_that_drops_mid_join_changes_nothing(app: TestApp) {
    let id = app.queued_product(1, json!({})).await;
    let users: Vec<i64> = (100..140).collect();
    let path = format!("/products/{id}/queue");
    let mut gone = Vec::new();
    for u in &users {
        let token = app.user(*u);
        let (app, path) = (&app, path.clone());
        gone.push(async move { abandon(app, "PUT", &path, &token, "", 3).await });
    }
    futures::future::join_all(gone).await;
    // Each join happened whole or not at all: joining again answers the one place.
    for u in &users {
        let (s, b) = app.join_queue(id, *u).await;
        assert!(matches!(s, StatusCode::OK | StatusCode::CREATED), "{s} {b}");
        assert_eq!(b["state"], "WAITING_FOR_OPEN");
    }
    let members = app.in_queue_order(id).await;
    let mut sorted = members.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, users);
    assert_eq!(counts(&app.queue_counts(id).await), [40, 0, 0, 0, 0, 0]);
}
