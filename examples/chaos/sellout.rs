//! Phase 3: a round on one instance while its units sell through another. A product with no
//! stock and a 3,000-person line is restocked 20 through instance A (the round runs there, at
//! the provider's 500/s); every notified buyer orders through instance B. The round must end
//! `CANCELED_BY_SOLD_OUT` with exactly 20 orders, and A must start no request after the first
//! buyer B told `sold_out`.

use anyhow::Context;
use dropline::auth::{Principal, TokenKeys};
use dropline::config::Settings;
use dropline::domain::ids::{ProductId, UserId};
use dropline::tools::mock_receiver::MockReceiver;
use rand::Rng;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Instance, SECRET, start};

const LINE: i64 = 3_000;
const UNITS: i64 = 20;

/// What the buyers heard through B.
#[derive(Default)]
struct Heard {
    created: usize,
    /// Requests A had started when B first answered `sold_out`.
    started_when_sold_out: Option<i64>,
}

/// The client and the admin token the phase calls with.
struct Caller {
    client: reqwest::Client,
    admin: String,
}

impl Caller {
    async fn post(&self, url: &str, body: Value) -> anyhow::Result<Value> {
        crate::post_as(&self.client, &self.admin, url, body).await
    }
}

/// Runs the phase on the database `db` and `redis` (a fresh key prefix); answers the
/// divergences found.
pub(crate) async fn run(db: &str, redis: &str) -> anyhow::Result<Vec<String>> {
    let receiver = MockReceiver::start().await?;
    let prefix = format!("dropline-sellout-{}", rand::rng().random::<u32>());
    let settings_for = |n: usize| {
        let mut s = Settings::for_database(db);
        s.jwt_secret = Some(SECRET.into());
        s.notify.notify_url = Some(receiver.url());
        s.redis.url = Some(redis.to_owned());
        s.redis.prefix = prefix.clone();
        s.redis.instance_id = Some(format!("sellout-{n}"));
        s
    };
    let a: Instance = start(&settings_for(0)).await?;
    let b: Instance = start(&settings_for(1)).await?;
    let keys = TokenKeys::new(SECRET.as_bytes());
    let hour = Duration::from_secs(3600);
    let world = Caller {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        admin: keys.mint(Principal::Admin, hour)?,
    };
    let tokens: Vec<String> = (1..=LINE)
        .map(|u| keys.mint(Principal::User(UserId::from_db(u)), hour))
        .collect::<Result<_, _>>()?;
    let brand = world
        .post(
            &format!("{}/brands", a.base),
            json!({"name": "Snow Peak", "category": "camping"}),
        )
        .await?;
    let product = world
        .post(
            &format!("{}/products", a.base),
            json!({"name": "Sell-out lantern", "brand_ids": [brand["id"]], "price": 1000,
                   "stock": 0, "per_user_limit": 1}),
        )
        .await?["id"]
        .as_i64()
        .context("product id")?;
    let line: Vec<i64> = (1..=LINE).collect();
    world
        .post(
            &format!("{}/admin/products/{product}/subscriptions/import", a.base),
            json!({ "user_ids": line }),
        )
        .await?;
    let heard = Arc::new(Mutex::new(Heard::default()));
    let (client, base_b, events) = (world.client.clone(), b.base.clone(), a.state.events.clone());
    let h = heard.clone();
    receiver.set_hook(Arc::new(move |arrival| {
        let (client, base_b, events, h) =
            (client.clone(), base_b.clone(), events.clone(), h.clone());
        let token = tokens
            .get((arrival.notification.user_id - 1) as usize)
            .cloned()
            .unwrap_or_default();
        Box::pin(async move {
            let Ok(resp) = client
                .post(format!("{base_b}/products/{product}/orders"))
                .bearer_auth(token)
                .send()
                .await
            else {
                return;
            };
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            let mut h = h.lock().unwrap_or_else(|p| p.into_inner());
            if status.as_u16() == 201 {
                h.created += 1;
            } else if body["error"]["code"] == "sold_out" && h.started_when_sold_out.is_none() {
                h.started_when_sold_out = events
                    .progress(ProductId::from_db(product), 1)
                    .map(|p| p.started_count);
            }
        })
    }));

    let mut progress = a.state.events.subscribe();
    let began = Instant::now();
    world
        .post(
            &format!("{}/products/{product}/notifications/re-stock", a.base),
            json!({ "quantity": UNITS }),
        )
        .await?;
    let round = loop {
        let r: serde_json::Value = world
            .client
            .get(format!(
                "{}/products/{product}/notifications/rounds/1",
                a.base
            ))
            .bearer_auth(&world.admin)
            .send()
            .await?
            .json()
            .await?;
        if r["status"] != "IN_PROGRESS" || began.elapsed() > Duration::from_secs(30) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The run's last event carries its count of starts (the live view ends with the run).
    let mut started = 0;
    loop {
        match progress.try_recv() {
            Ok(e) if e.product_id == ProductId::from_db(product) && e.round == 1 => {
                started = started.max(e.started_count);
            }
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    let (created, when) = {
        let h = heard.lock().unwrap_or_else(|p| p.into_inner());
        (h.created, h.started_when_sold_out)
    };
    println!(
        "  round on A: {} after {:.2} s, {} notified of {LINE}; {created} orders through B; \
         A had started {} when B first said sold_out, {started} in all",
        round["status"],
        began.elapsed().as_secs_f64(),
        round["notified_count"],
        when.map_or("-".to_owned(), |w| w.to_string()),
    );
    let mut found = Vec::new();
    if round["status"] != "CANCELED_BY_SOLD_OUT" {
        found.push(format!(
            "the round ended {}, not CANCELED_BY_SOLD_OUT",
            round["status"]
        ));
    }
    if created != UNITS as usize {
        found.push(format!("{created} orders through B for {UNITS} units"));
    }
    if let Some(w) = when
        && started > w
    {
        found.push(format!(
            "A started {} requests after the sell-out through B",
            started - w
        ));
    }
    for i in [a, b] {
        i.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), i.task).await;
    }
    Ok(found)
}
