//! Restock rounds across instances: one global rate, and rounds that fail over.

use dropline::tools::mock_receiver::{MockReceiver, busiest_second};
use serde_json::json;
use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{TestApp, Tuning, signal_at, users};

crate::on_every_cluster!(
    rounds_on_different_instances_share_one_rate,
    under_the_shared_schedule_each_round_starts_its_line_in_order,
    a_round_whose_instance_stopped_is_finished_by_another_without_duplicates,
);

async fn wire(
    apps: Vec<TestApp>,
    receiver: &MockReceiver,
    tuning: impl Fn() -> Tuning,
) -> Vec<TestApp> {
    let mut wired = Vec::new();
    for app in apps {
        wired.push(app.notifying(receiver, tuning()).await);
    }
    wired
}

/// Two products with the same line of `n`, created on the first instance; the second and
/// third each run one's round at once, at `rate` per second shared, 16 in flight each. Both
/// rounds complete; answers what the receiver saw and the two product ids.
async fn two_rounds_on_two_instances(
    apps: Vec<TestApp>,
    rate: u32,
    line: &[i64],
) -> (Vec<dropline::tools::mock_receiver::Arrival>, [i64; 2]) {
    let receiver = MockReceiver::start().await.unwrap();
    let apps = wire(apps, &receiver, || Tuning {
        rate,
        concurrency: 16,
        max_retries: 2,
    })
    .await;
    let a = apps[0].product_with_line(1_000, line, json!({})).await;
    let b = apps[0].product_with_line(1_000, line, json!({})).await;

    let (ra, rb) = tokio::join!(
        apps[1].restock_and_wait(a, None),
        apps[2].restock_and_wait(b, None)
    );

    assert_eq!(ra["status"], "COMPLETED");
    assert_eq!(rb["status"], "COMPLETED");
    (receiver.arrivals(), [a, b])
}

async fn rounds_on_different_instances_share_one_rate(apps: Vec<TestApp>) {
    let (arrivals, _) = two_rounds_on_two_instances(apps, 200, &users(300)).await;

    assert_eq!(arrivals.len(), 600);
    let busiest = busiest_second(&arrivals);
    assert!(
        busiest <= 200,
        "the busiest sliding second held {busiest} starts"
    );
}

async fn under_the_shared_schedule_each_round_starts_its_line_in_order(apps: Vec<TestApp>) {
    // Slots 10 ms apart: the receiver sees requests in the order they started. With 16
    // requests in flight, tasks that asked Redis for slots in the order they happened to
    // run would start out of line order.
    let line = users(60);
    let (arrivals, products) = two_rounds_on_two_instances(apps, 100, &line).await;

    for product in products {
        let started: Vec<i64> = arrivals
            .iter()
            .filter(|x| x.notification.product_id == product)
            .map(|x| x.notification.user_id)
            .collect();
        assert_eq!(started, line, "product {product} started out of line order");
    }
}

async fn a_round_whose_instance_stopped_is_finished_by_another_without_duplicates(
    mut apps: Vec<TestApp>,
) {
    let receiver = MockReceiver::start().await.unwrap();
    receiver.set_latency(Duration::from_millis(20));
    let tuning = || Tuning {
        rate: 400,
        concurrency: 8,
        max_retries: 2,
    };
    apps = wire(apps, &receiver, tuning).await;
    let line = users(600);
    let product = apps[0].product_with_line(1_000, &line, json!({})).await;

    let hundredth = signal_at(&receiver, 100);
    let round = apps[0].restock_accepted(product, None).await;
    let number = round["round"].as_i64().unwrap();
    // Let part of the line through, then the instance running the round stops.
    hundredth.notified().await;
    apps[0].stop().await;
    let sent_before = receiver.count();
    assert!(
        sent_before < line.len(),
        "the round finished before the stop"
    );

    // Another instance sees the lease lapse and finishes the round from its checkpoint.
    apps[1].state.clock.advance(Duration::from_secs(120));
    let ended = apps[1].settle(product, number).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["notified_count"], 600);

    let recipients = apps[1].recipients(product, number, 1000).await;
    assert_eq!(recipients, line, "recipients in line order, each once");
    let arrivals = receiver.arrivals();
    let distinct: HashSet<i64> = arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(distinct.len(), line.len());
    // Requests in flight when the instance stopped may be sent again; never more than that.
    let duplicates = arrivals.len() - distinct.len();
    assert!(duplicates <= 8, "{duplicates} duplicates at the receiver");
}
