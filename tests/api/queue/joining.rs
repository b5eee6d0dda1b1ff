//! Joining, leaving and reading one's standing: the codes, one place per user, the window.

use reqwest::StatusCode;
use serde_json::json;

use crate::draws::rfc3339;
use crate::helpers::{TestApp, assert_error};

crate::on_every_backend!(
    joining_answers_201_then_200_with_one_place_per_user,
    a_product_without_a_room_answers_not_queued,
    the_room_is_closed_before_it_opens,
    leaving_ends_the_place_and_a_stranger_has_no_standing,
    only_managers_of_the_product_read_the_room,
    a_burst_of_joins_gives_each_user_one_place_in_each_room,
);

async fn joining_answers_201_then_200_with_one_place_per_user(app: TestApp) {
    let id = app.queued_product(5, json!({})).await;
    let (s, first) = app.join_queue(id, 7).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first, json!({"state": "WAITING_FOR_OPEN"}));
    let (s, again) = app.join_queue(id, 7).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again, json!({"state": "WAITING_FOR_OPEN"}));
    assert_eq!(app.queue_members(id, 10).await.len(), 1);
    assert_eq!(
        super::counts(&app.queue_counts(id).await),
        [1, 0, 0, 0, 0, 0]
    );
    let got = app
        .put(&format!("/products/{id}/queue"), Some(&app.admin()))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    let got = app.put(&format!("/products/{id}/queue"), None).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_error(
        &app.join_queue(9999, 7).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// Joins arriving together are written in shared transactions: a burst over two rooms, with
/// every user joining each room three times at once, still gives each user exactly one
/// place per room, one 201 and two 200s.
async fn a_burst_of_joins_gives_each_user_one_place_in_each_room(app: TestApp) {
    let rooms = [
        app.queued_product(5, json!({})).await,
        app.queued_product(5, json!({})).await,
    ];
    let users: Vec<i64> = (1..=60).collect();
    let joins = rooms.iter().flat_map(|&room| {
        users
            .iter()
            .flat_map(move |&u| std::iter::repeat_n((room, u), 3))
    });
    let answers = futures::future::join_all(joins.map(|(room, u)| {
        let app = &app;
        async move { (room, u, app.join_queue(room, u).await) }
    }))
    .await;
    for &room in &rooms {
        for &u in &users {
            let mut codes: Vec<u16> = answers
                .iter()
                .filter(|(r, who, _)| *r == room && *who == u)
                .map(|(_, _, (s, body))| {
                    assert_eq!(body, &json!({"state": "WAITING_FOR_OPEN"}));
                    s.as_u16()
                })
                .collect();
            codes.sort_unstable();
            assert_eq!(codes, [200, 200, 201], "user {u} in room {room}");
        }
        let mut members: Vec<i64> = app
            .queue_members(room, 100)
            .await
            .iter()
            .map(|m| m["user_id"].as_i64().unwrap_or_default())
            .collect();
        members.sort_unstable();
        assert_eq!(members, users);
    }
}

async fn a_product_without_a_room_answers_not_queued(app: TestApp) {
    let id = app.product(json!({})).await;
    let code = "not_queued";
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    assert_error(&app.join_queue(id, 1).await, status, code);
    assert_error(&app.leave_queue(id, 1).await, status, code);
    assert_error(&app.standing(id, 1).await, status, code);
    let got = app
        .get(&format!("/admin/products/{id}/queue"), Some(&app.admin()))
        .await;
    assert_error(&got, status, code);
}

async fn the_room_is_closed_before_it_opens(app: TestApp) {
    let opens = app.state.clock.now() + chrono::Duration::minutes(1);
    let id = app
        .queued_product(
            5,
            json!({"queue": {"enabled": true, "opens_at": rfc3339(opens)}}),
        )
        .await;
    assert_error(
        &app.join_queue(id, 1).await,
        StatusCode::CONFLICT,
        "queue_closed",
    );
    app.state.clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(app.join_queue(id, 1).await.0, StatusCode::CREATED);
}

async fn leaving_ends_the_place_and_a_stranger_has_no_standing(app: TestApp) {
    let id = app.queued_product(5, json!({})).await;
    assert_error(
        &app.standing(id, 3).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.leave_queue(id, 3).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    app.joined(id, &[3]).await;
    let (s, b) = app.leave_queue(id, 3).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(app.queue_state(id, 3).await, "LEFT");
    // One place per user: joining again shows the place that ended.
    let (s, again) = app.join_queue(id, 3).await;
    assert_eq!((s, again), (StatusCode::OK, json!({"state": "LEFT"})));
    assert_eq!(
        super::counts(&app.queue_counts(id).await),
        [0, 0, 0, 0, 1, 0]
    );
}

async fn only_managers_of_the_product_read_the_room(app: TestApp) {
    let id = app.queued_product(5, json!({})).await;
    let (_, product) = app.get(&format!("/products/{id}"), None).await;
    let owner = product["brand_ids"][0].as_i64().unwrap();
    let stranger = app.create_brand("Other", "fashion").await;
    for path in [
        format!("/admin/products/{id}/queue"),
        format!("/admin/products/{id}/queue/members"),
    ] {
        assert_eq!(
            app.get(&path, Some(&app.brand(owner))).await.0,
            StatusCode::OK
        );
        let got = app.get(&path, Some(&app.brand(stranger))).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
        let got = app.get(&path, Some(&app.user(1))).await;
        assert_error(&got, StatusCode::FORBIDDEN, "forbidden");
    }
}
