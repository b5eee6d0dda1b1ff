//! `dropline demo`: the whole story in one command. It starts the service in-process on a
//! temporary SQLite database with a recording webhook receiver, sets up a collaboration with
//! a line, restocks it while simulated buyers order as they are notified, shows the round's
//! progress and ends with a summary. Everything it made is removed when it ends. With
//! `--mode claim` it tells the story twice, broadcast and claim, and compares them.

mod args;
mod buyers;
mod client;
mod compare;
mod display;
mod round;
mod side_by_side;

use anyhow::{Context, bail};
use rand::RngCore;
use serde_json::json;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::domain::ids::ProductId;
use crate::startup::Application;
use crate::tools::mock_receiver::{MockReceiver, busiest_second};

use self::client::Client;

pub use self::args::{DemoArgs, DemoMode};
pub use self::display::Summary;
pub use self::side_by_side::{Comparison, Side};

/// What the demo ends with: one round's summary, or the two modes side by side.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// `--mode broadcast`.
    Broadcast(Summary),
    /// `--mode claim`.
    Claim(Comparison),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broadcast(s) => s.fmt(f),
            Self::Claim(c) => c.fmt(f),
        }
    }
}

/// Runs the demo and returns its outcome (also printed).
pub async fn run(args: &DemoArgs) -> anyhow::Result<Outcome> {
    if args.line() < 1 || args.quantity() < 1 || args.buy_every < 1 || args.rate < 1 {
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
    let tasks = TaskTracker::new();
    let server = tasks.spawn(app.run(shutdown.clone()));
    tasks.close();

    // Ctrl-C still cleans up: the story stops, the server drains, the directory goes.
    let told = async {
        let client = Arc::new(Client::new(&base, &state)?);
        match args.mode {
            DemoMode::Broadcast => story(args, &client, &state, &receiver)
                .await
                .map(Outcome::Broadcast),
            DemoMode::Claim => compare::compare(args, &client, &state, &receiver)
                .await
                .map(Outcome::Claim),
        }
    };
    let outcome = tokio::select! {
        outcome = told => outcome,
        () = crate::startup::shutdown_signal() => Err(anyhow::anyhow!("interrupted")),
    };

    shutdown.cancel();
    let served = server.await;
    tasks.wait().await;
    receiver.stopped().await;
    drop(state);
    dir.close()
        .context("Failed to remove the demo's temporary directory")?;
    served.context("The demo server task failed")??;
    let summary = outcome?;
    println!("{summary}");
    Ok(summary)
}

async fn story(
    args: &DemoArgs,
    client: &Arc<Client>,
    state: &crate::state::AppState,
    receiver: &MockReceiver,
) -> anyhow::Result<Summary> {
    let (line, quantity) = (args.line(), args.quantity());
    let brands = round::brands(client).await?;
    let product_id =
        round::product_with_line(client, &brands, "Chair One x Kith", json!({}), line).await?;
    println!(
        "Helinox x Kith \"Chair One x Kith\": {line} people in line; restocking {quantity} units at {}/s.",
        args.rate
    );

    let shop = buyers::Buyers::new(
        client.clone(),
        state.keys.clone(),
        product_id,
        buyers::Rule::Every(args.buy_every as u64),
    );
    receiver.set_hook(shop.hook());
    let started = Instant::now();
    let (round_no, last) =
        round::restock_and_follow(client, state, product_id, quantity, line, args.timeout).await?;
    shop.settle().await;
    let product = ProductId::from_db(product_id);
    let stored = state
        .store
        .get_round(product, round_no)
        .await?
        .context("the round disappeared")?;
    let arrivals = receiver.arrivals();
    Ok(Summary {
        status: stored.status,
        round: round_no,
        line,
        notified: stored.notified_count,
        stopped_after_user: stored.last_sent_user_id.map(|u| u.get()),
        seconds: display::seconds(&stored),
        busiest_started: last.busiest_second,
        busiest_arrived: busiest_second(&arrivals),
        rate_limit: args.rate,
        orders: shop.counts(),
        stock_left: round::stock_left(client, product_id)
            .await?
            .unwrap_or(last.stock),
        wall: started.elapsed(),
    })
}
