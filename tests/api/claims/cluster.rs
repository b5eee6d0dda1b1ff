//! Two instances over one database and one Redis: a claim's unit is never also sold by the
//! other instance, the holder orders from either, and units given back on one instance are
//! offered by the round that runs on the other.

use dropline::tools::mock_receiver::MockReceiver;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Db, TestApp, Tuning, assert_error, users};

async fn two_instances_share_one_truth_of_claims(db: Db) {
    let Some(apps) = TestApp::spawn_cluster(db, 2).await else {
        return;
    };
    let receiver = MockReceiver::start().await.unwrap();
    let mut apps = apps.into_iter();
    let (Some(a), Some(b)) = (apps.next(), apps.next()) else {
        panic!("two apps");
    };
    let a = a.notifying(&receiver, Tuning::default()).await;
    let b = b.notifying(&receiver, Tuning::default()).await;
    let line = users(4);
    let product = a
        .product_with_line(
            0,
            &line,
            json!({"alert_mode": "claim", "claim_seconds": crate::helpers::CLAIM_SECONDS}),
        )
        .await;
    a.restock_now(product, 2).await;
    receiver.wait_for(2).await;

    // The other instance knows the claimed units are not free.
    assert_error(
        &b.order(product, 9001).await,
        StatusCode::CONFLICT,
        "sold_out",
    );
    assert_eq!(b.stock(product).await, 0);
    b.reserve(product, line[0]).await;

    // The claim left runs out on the other instance's sweeper: the round (running on the
    // first) hands the unit to the next member.
    b.expire_claims().await;
    receiver.wait_for(3).await;
    assert_eq!(
        a.claim_states(product, 1).await,
        vec![
            (line[0], "USED".to_owned()),
            (line[1], "EXPIRED".to_owned()),
            (line[2], "OPEN".to_owned())
        ]
    );
    assert_error(
        &a.order(product, line[1]).await,
        StatusCode::CONFLICT,
        "sold_out",
    );
    b.reserve(product, line[2]).await;
    let round = a.settle(product, 1).await;
    assert_eq!(round["status"], "CANCELED_BY_SOLD_OUT");
    assert_eq!(a.stock(product).await, 0);
    assert_eq!(b.stock(product).await, 0);
    assert_eq!(crate::helpers::told_sorted(&receiver), line[..3]);
}

crate::on_each_database!(two_instances_share_one_truth_of_claims: sqlite_two_instances_share_one_truth_of_claims, mysql_two_instances_share_one_truth_of_claims;);
