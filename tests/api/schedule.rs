//! The Redis schedule hands out slots one interval apart, across connections (instances).

use dropline::coord::rate_schedule::{RedisSchedule, interval_us};

#[tokio::test]
async fn redis_schedule_spaces_every_slot_by_the_interval_across_instances() {
    let Ok(url) = crate::helpers::redis_url().ok_or(()) else {
        return;
    };
    let client = redis::Client::open(url).expect("redis url");
    let key = format!("dropline:test:schedule:{}", std::process::id());
    let mut schedules = Vec::new();
    for _ in 0..3 {
        let conn = redis::aio::ConnectionManager::new(client.clone())
            .await
            .expect("DROPLINE_TEST_REDIS_URL does not answer");
        schedules.push(RedisSchedule::new(conn, key.clone(), 500, "test"));
    }
    let mut tasks = Vec::new();
    for s in schedules {
        tasks.push(tokio::spawn(async move {
            let mut slots = Vec::new();
            for _ in 0..200 {
                slots.push(s.take().await.expect("take").at_us);
            }
            slots
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    assert_eq!(all.len(), 600);
    let gaps: Vec<i64> = all.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g >= interval_us(500)),
        "min gap {:?}",
        gaps.iter().min()
    );
    // No one-second window holds more than 500 slots.
    let mut busiest = 0;
    let mut lo = 0;
    for hi in 0..all.len() {
        while all[hi] - all[lo] >= 1_000_000 {
            lo += 1;
        }
        busiest = busiest.max(hi - lo + 1);
    }
    assert!(busiest <= 500, "busiest second held {busiest}");
}
