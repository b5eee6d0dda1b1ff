//! The `queue` settings of a product: where they are allowed, their defaults, the seed's
//! hash from the start and the seed once the sale started, and the lock once anyone joined.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::json;

use super::STARTS_IN;
use crate::draws::rfc3339;
use crate::helpers::{TestApp, assert_error, assert_invalid};

crate::on_every_backend!(
    a_room_is_only_for_first_come_products_with_a_start_and_sane_numbers,
    a_room_publishes_its_seed_hash_at_once_and_its_seed_when_the_sale_starts,
    enabling_a_room_later_gives_it_a_seed_and_disabling_it_is_locked_once_anyone_joined,
);

async fn a_room_is_only_for_first_come_products_with_a_start_and_sane_numbers(app: TestApp) {
    let start = rfc3339(app.state.clock.now() + STARTS_IN);
    let end = rfc3339(app.state.clock.now() + STARTS_IN * 2);
    let draw = json!({"sale_mode": "draw", "sale_starts_at": start, "sale_ends_at": end,
        "queue": {"enabled": true}});
    assert_invalid(&app.try_create_product(&app.admin(), draw).await, "queue");
    let no_start = json!({"queue": {"enabled": true}});
    assert_invalid(
        &app.try_create_product(&app.admin(), no_start).await,
        "sale_starts_at",
    );
    for (queue, field) in [
        (
            json!({"enabled": true, "admit_seconds": 29}),
            "queue.admit_seconds",
        ),
        (
            json!({"enabled": true, "admit_seconds": 3601}),
            "queue.admit_seconds",
        ),
        (
            json!({"enabled": true, "admit_rate": 0}),
            "queue.admit_rate",
        ),
        (
            json!({"enabled": true, "admit_rate": 10001}),
            "queue.admit_rate",
        ),
        (json!({"enabled": true, "opens_at": end}), "queue.opens_at"),
    ] {
        let body = json!({"sale_starts_at": start, "queue": queue});
        assert_invalid(&app.try_create_product(&app.admin(), body).await, field);
    }
    // A draw product may not turn its room on later either.
    let plain_draw = json!({"sale_mode": "draw", "sale_starts_at": start, "sale_ends_at": end});
    let id = app.product(plain_draw).await;
    let got = app
        .patch(
            &format!("/products/{id}"),
            Some(&app.admin()),
            json!({"queue": {"enabled": true}}),
        )
        .await;
    assert_invalid(&got, "queue");
    // Without a room, the product reads with the defaults, off.
    let plain = app.create_product(json!({})).await;
    assert_eq!(
        plain["queue"],
        json!({"enabled": false, "opens_at": null, "admit_seconds": 120, "admit_rate": 500})
    );
    assert!(plain["queue_seed_hash"].is_null());
    assert!(plain["queue_seed"].is_null());
}

async fn a_room_publishes_its_seed_hash_at_once_and_its_seed_when_the_sale_starts(app: TestApp) {
    let id = app
        .queued_product(5, json!({"queue": {"enabled": true, "admit_rate": 7}}))
        .await;
    let (s, before) = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let time = |v: &serde_json::Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    let starts = time(&before["sale_starts_at"]);
    assert_eq!(
        time(&before["queue"]["opens_at"]),
        starts - Duration::minutes(15)
    );
    assert_eq!(before["queue"]["enabled"], true);
    assert_eq!(before["queue"]["admit_seconds"], 120);
    assert_eq!(before["queue"]["admit_rate"], 7);
    let hash = before["queue_seed_hash"]
        .as_str()
        .expect("seed hash")
        .to_owned();
    assert!(dropline::domain::draws::is_seed(&hash), "{hash}");
    assert!(before["queue_seed"].is_null(), "{before}");

    app.start_sale();
    let (_, after) = app.get(&format!("/products/{id}"), None).await;
    let seed = after["queue_seed"].as_str().expect("seed after the start");
    assert!(dropline::domain::draws::is_seed(seed));
    assert_eq!(dropline::domain::draws::seed_hash(seed), hash);
    assert_eq!(after["queue_seed_hash"], hash.as_str());
}

async fn enabling_a_room_later_gives_it_a_seed_and_disabling_it_is_locked_once_anyone_joined(
    app: TestApp,
) {
    let start = rfc3339(app.state.clock.now() + STARTS_IN);
    let id = app.product(json!({"sale_starts_at": start})).await;
    let path = format!("/products/{id}");
    let (s, on) = app
        .patch(
            &path,
            Some(&app.admin()),
            json!({"queue": {"enabled": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{on}");
    let hash = on["queue_seed_hash"]
        .as_str()
        .expect("seed hash")
        .to_owned();
    // Other settings of the room change freely; its seed stays.
    let (s, tuned) = app
        .patch(
            &path,
            Some(&app.admin()),
            json!({"queue": {"admit_seconds": 60}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tuned}");
    assert_eq!(tuned["queue"]["admit_seconds"], 60);
    assert_eq!(tuned["queue"]["enabled"], true);
    assert_eq!(tuned["queue_seed_hash"], hash.as_str());

    app.joined(id, &[1]).await;
    let got = app
        .patch(
            &path,
            Some(&app.admin()),
            json!({"queue": {"enabled": false}}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "queue_locked");
    let (_, still) = app.get(&path, None).await;
    assert_eq!(still["queue"]["enabled"], true);
}
