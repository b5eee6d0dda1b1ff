//! Pacing: P1 through the HTTP API, the engine alone, and the limiter alone.

use super::*;

/// P1: a 20,000-person line at the default rate, receiver answering in 20 ms.
pub(crate) async fn p1(db: &str) -> anyhow::Result<()> {
    let receiver = MockReceiver::start().await?;
    receiver.set_latency(Duration::from_millis(20));
    let mut settings = Settings::for_database(db);
    settings.jwt_secret = Some(SECRET.into());
    settings.notify.notify_url = Some(receiver.url());
    let (state, addr, shutdown) = serve(settings).await?;
    let product = product_with_line(&state.store, 20_000, 20_000).await?;
    state.gate.load(product, 20_000);
    let client = reqwest::Client::new();
    let resp = client
        .post(format!(
            "{addr}/products/{product}/notifications/re-stock?wait=true"
        ))
        .bearer_auth(admin_token()?)
        .timeout(Duration::from_secs(600))
        .send()
        .await?;
    let round: serde_json::Value = resp.json().await?;
    println!("round: {round}");
    let arrivals = receiver.arrivals();
    let first = arrivals.first().context("nothing arrived")?.at;
    let last = arrivals.last().context("nothing arrived")?.at;
    let mean = (arrivals.len() - 1) as f64 / (last - first).as_secs_f64();
    println!(
        "P1 status {} notified {} arrived {} mean rate {:.1}/s busiest sliding second {}",
        round["status"],
        round["notified_count"],
        arrivals.len(),
        mean,
        busiest_second(&arrivals)
    );
    shutdown.cancel();
    Ok(())
}

/// The limiter alone in real time: one caller, then 64 callers, 2,500 grants each run.
pub(crate) async fn limiter_alone() -> anyhow::Result<()> {
    for callers in [1_usize, 64] {
        let limiter = Arc::new(Limiter::new(500));
        let grants = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let (l, g) = (limiter.clone(), grants.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..(2_500 / callers) {
                    l.acquire(None).await;
                    g.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(tokio::time::Instant::now());
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let mut times = grants.lock().unwrap_or_else(|p| p.into_inner()).clone();
        times.sort();
        let span = (*times.last().context("none")? - times[0]).as_secs_f64();
        let mut busiest = 0;
        let mut lo = 0;
        for hi in 0..times.len() {
            while times[hi] - times[lo] >= Duration::from_secs(1) {
                lo += 1;
            }
            busiest = busiest.max(hi - lo + 1);
        }
        println!(
            "limiter, {callers} callers: {} grants, mean {:.1}/s, busiest second {busiest}",
            times.len(),
            (times.len() - 1) as f64 / span
        );
    }
    Ok(())
}

/// The busiest sliding second and the mean rate of a list of instants.
fn pace_of(mut times: Vec<tokio::time::Instant>) -> (usize, f64) {
    times.sort();
    let busiest = dropline::notify::limiter::most_in_one_second(times.clone());
    let span = match (times.first(), times.last()) {
        (Some(a), Some(b)) => (*b - *a).as_secs_f64(),
        _ => 0.0,
    };
    (
        busiest,
        (times.len().saturating_sub(1)) as f64 / span.max(1e-9),
    )
}

/// P1 on the engine alone, measuring starts at the sender beside arrivals at the receiver.
pub(crate) async fn p1_engine(db: &str) -> anyhow::Result<()> {
    let store = store::connect(db, &tokio_util::task::TaskTracker::new()).await?;
    store.migrate().await?;
    let product = product_with_line(&store, 20_000, 20_000).await?;
    let gate = Arc::new(StockGate::new());
    let receiver = MockReceiver::start().await?;
    receiver.set_latency(Duration::from_millis(20));
    let (channel, notifier) = watched_engine(&store, &gate, product, &receiver.url())?;
    let (round, took) = run_round(&store, &gate, &notifier, product).await?;
    let sent = channel
        .times
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (s_busy, s_mean) = pace_of(sent);
    let (r_busy, r_mean) = pace_of(receiver.arrivals().iter().map(|a| a.at).collect());
    println!(
        "P1-engine status {} in {took:.1} s: sender mean {s_mean:.1}/s busiest {s_busy}; receiver mean {r_mean:.1}/s busiest {r_busy}",
        round.status.as_str()
    );
    Ok(())
}
