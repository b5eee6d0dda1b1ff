//! `dropline demo`: the whole story in one command. It starts the service in-process on a
//! temporary SQLite database with a recording webhook receiver, sets up a collaboration with
//! a line, restocks it while simulated buyers order as they are notified, shows the round's
//! progress and ends with a summary. Everything it made is removed when it ends.

mod buyers;
mod display;

use anyhow::{Context, bail};
use rand::RngCore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::auth::Principal;
use crate::config::Settings;
use crate::domain::ids::ProductId;
use crate::domain::round::RoundStatus;
use crate::events::RoundProgress;
use crate::http::mock_receiver::{MockReceiver, busiest_second};
use crate::startup::Application;

pub use self::display::Summary;

/// Arguments of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// People in the line.
    #[arg(long, default_value_t = 5_000)]
    pub line: i64,
    /// Units the restock adds.
    #[arg(long, default_value_t = 100)]
    pub quantity: i64,
    /// One notified person in this many tries to buy.
    #[arg(long, default_value_t = 20)]
    pub buy_every: i64,
    /// Notifications per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Give up waiting for the round after this long.
    #[arg(long, default_value = "50s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Runs the demo and returns its summary (also printed).
pub async fn run(args: &DemoArgs) -> anyhow::Result<Summary> {
    if args.line < 1 || args.quantity < 1 || args.buy_every < 1 || args.rate < 1 {
        bail!("--line, --quantity, --buy-every and --rate must be positive");
    }
    let dir = tempfile::Builder::new()
        .prefix("dropline-demo-")
        .tempdir()
        .context("Failed to make a temporary directory")?;
    let receiver = MockReceiver::start()
        .await
        .context("Failed to start the mock receiver")?;
    let mut settings = Settings::for_database(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("demo.db").display()
    ));
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    settings.jwt_secret = Some(
        secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .as_str()
            .into(),
    );
    settings.notify.notify_url = Some(receiver.url());
    settings.notify.notify_rate = args.rate;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("Failed to bind a port for the demo")?;
    let app = Application::build(&settings, listener).await?;
    let base = format!("http://{}", app.local_addr()?);
    let state = app.state().clone();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));

    // Ctrl-C still cleans up: the story stops, the server drains, the directory goes.
    let outcome = tokio::select! {
        outcome = story(args, &base, &state, &receiver) => outcome,
        () = crate::startup::shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
    };

    shutdown.cancel();
    let served = server.await;
    receiver.stop();
    drop(state);
    dir.close()
        .context("Failed to remove the demo's temporary directory")?;
    served.context("The demo server task failed")??;
    let summary = outcome?;
    println!("{summary}");
    Ok(summary)
}

/// A client of the demo's own server.
pub(crate) struct Client {
    base: String,
    http: reqwest::Client,
    admin: String,
}

impl Client {
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("Failed to call {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn admin_post(&self, path: &str, body: Value, want: StatusCode) -> anyhow::Result<Value> {
        let (status, body) = self
            .send(reqwest::Method::POST, path, &self.admin, Some(body))
            .await?;
        if status != want {
            bail!("{path} answered {status}: {body}");
        }
        Ok(body)
    }
}

async fn story(
    args: &DemoArgs,
    base: &str,
    state: &crate::state::AppState,
    receiver: &MockReceiver,
) -> anyhow::Result<Summary> {
    let admin = state
        .keys
        .mint(Principal::Admin, Duration::from_secs(3600))
        .context("Failed to mint the demo's admin token")?;
    let client = Arc::new(Client {
        base: base.to_owned(),
        http: reqwest::Client::new(),
        admin,
    });
    let created = StatusCode::CREATED;
    let mut brands = Vec::new();
    for (name, category) in [("Helinox", "camping"), ("Kith", "fashion")] {
        let brand = client
            .admin_post(
                "/brands",
                json!({"name": name, "category": category}),
                created,
            )
            .await?;
        brands.push(brand["id"].clone());
    }
    let product = client
        .admin_post(
            "/products",
            json!({"name": "Chair One x Kith", "brand_ids": brands,
                   "price": 189_000, "stock": 0, "per_user_limit": 1}),
            created,
        )
        .await?;
    let product_id = product["id"].as_i64().context("the product has no id")?;
    let users: Vec<i64> = (1..=args.line).map(|i| 100_000 + i).collect();
    for chunk in users.chunks(50_000) {
        client
            .admin_post(
                &format!("/admin/products/{product_id}/subscriptions/import"),
                json!({ "user_ids": chunk }),
                StatusCode::OK,
            )
            .await?;
    }
    println!(
        "Helinox x Kith \"Chair One x Kith\": {} people in line; restocking {} units at {}/s.",
        args.line, args.quantity, args.rate
    );

    let shop = buyers::Buyers::new(
        client.clone(),
        state.keys.clone(),
        product_id,
        args.buy_every,
    );
    receiver.set_hook(shop.hook());
    let mut events = state.events.subscribe();
    let started = Instant::now();
    let round = client
        .admin_post(
            &format!("/products/{product_id}/notifications/re-stock"),
            json!({ "quantity": args.quantity }),
            StatusCode::ACCEPTED,
        )
        .await?;
    let round_no = round["round"].as_i64().context("the round has no number")?;
    let bars = display::Bars::new(args.line as u64, args.quantity as u64);
    let product = ProductId::from_db(product_id);
    let last = follow(&mut events, &bars, product, round_no, args.timeout).await;
    let last = match last {
        Some(e) => e,
        None => {
            // The stream fell silent: ask the engine directly.
            let r = state
                .notifier
                .settle(product, round_no)
                .await?
                .context("the round disappeared")?;
            if r.status == RoundStatus::InProgress {
                bail!("the round did not end within {:?}", args.timeout);
            }
            RoundProgress {
                product_id: product,
                round: round_no,
                status: r.status,
                notified_count: r.notified_count,
                started_count: r.notified_count,
                last_sent_user_id: r.last_sent_user_id,
                stock: state.gate.level(product).available,
                rate_per_sec: 0.0,
                busiest_second: 0,
                error: r.error,
                alert_mode: r.alert_mode,
                claims: r.claims,
                at: r.finished_at.unwrap_or(r.started_at),
            }
        }
    };
    shop.settle().await;
    bars.finish();
    let stored = state
        .store
        .get_round(product, round_no)
        .await?
        .context("the round disappeared")?;
    let arrivals = receiver.arrivals();
    let (_, now) = client
        .send(
            reqwest::Method::GET,
            &format!("/products/{product_id}"),
            &client.admin,
            None,
        )
        .await?;
    Ok(Summary {
        status: stored.status,
        round: round_no,
        line: args.line,
        notified: stored.notified_count,
        stopped_after_user: stored.last_sent_user_id.map(|u| u.get()),
        seconds: display::seconds(&stored),
        busiest_started: last.busiest_second,
        busiest_arrived: busiest_second(&arrivals),
        rate_limit: args.rate,
        orders: shop.counts(),
        stock_left: now["stock"].as_i64().unwrap_or(last.stock),
        wall: started.elapsed(),
    })
}

/// Follows the round's events to its end, moving the bars; None if the stream fell silent.
async fn follow(
    events: &mut tokio::sync::broadcast::Receiver<RoundProgress>,
    bars: &display::Bars,
    product: ProductId,
    round: i64,
    timeout: Duration,
) -> Option<RoundProgress> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        match next {
            Ok(Ok(e)) if e.product_id == product && e.round == round => {
                bars.show(&e);
                if e.status != RoundStatus::InProgress {
                    return Some(e);
                }
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => return None,
        }
    }
}
