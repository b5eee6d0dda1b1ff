//! `dropline mock-receiver`: a recording receiver on the command line, printing how many
//! notifications arrive each second until Ctrl-C.

use anyhow::Context;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::arrival::busiest_second;
use super::receiver::MockReceiver;
use crate::notify::signing::SigningKeys;
use crate::secret::Secret;
use crate::startup::shutdown_signal;

/// Arguments of `mock-receiver`.
#[derive(Debug, Clone, clap::Args)]
pub struct MockReceiverArgs {
    /// Address to listen on (`host:port`; host names such as `localhost` resolve).
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: String,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fail the N-th request (1-based) and every later one.
    #[arg(long)]
    pub fail_from: Option<u64>,
    /// The status failed requests get.
    #[arg(long, default_value_t = 500)]
    pub fail_status: u16,
    /// Verify signatures with these secrets (`whsec_…`, space-separated) and count bad ones.
    #[arg(long, env = "DROPLINE_NOTIFY_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
}

/// Runs `dropline mock-receiver` until Ctrl-C (or SIGTERM).
pub async fn run(args: &MockReceiverArgs) -> anyhow::Result<()> {
    let keys = args
        .secret
        .as_ref()
        .map(|s| SigningKeys::parse(s.expose()))
        .transpose()
        .context("--secret is invalid")?;
    let listener = TcpListener::bind(args.listen.as_str())
        .await
        .with_context(|| format!("Failed to listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let trigger = shutdown.clone();
    tasks.spawn(async move {
        tokio::select! {
            () = shutdown_signal() => trigger.cancel(),
            () = trigger.cancelled() => {}
        }
    });
    tasks.close();
    let served = serve_until(
        listener,
        Duration::from_millis(args.latency_ms),
        args.fail_from,
        args.fail_status,
        keys,
        shutdown.clone(),
    )
    .await
    .context("The mock receiver failed");
    shutdown.cancel();
    tasks.wait().await;
    served
}

/// Serves on `listener` until `shutdown`, printing how many arrived each second.
async fn serve_until(
    listener: TcpListener,
    latency: Duration,
    fail_from: Option<u64>,
    fail_status: u16,
    keys: Option<SigningKeys>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let receiver = MockReceiver::serve(listener)?;
    receiver.set_latency(latency);
    receiver.fail_from(fail_from, fail_status);
    let verifying = keys.is_some();
    if let Some(keys) = keys {
        receiver.verify_with(keys);
    }
    println!(
        "mock receiver listening on {}{}",
        receiver.url(),
        if verifying {
            " (verifying signatures)"
        } else {
            ""
        }
    );
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut seen = 0;
    let mut second = 0_u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {
                second += 1;
                let all = receiver.arrivals();
                if all.len() > seen {
                    let bad = if verifying {
                        format!(", {} with a bad signature", receiver.bad_signatures())
                    } else {
                        String::new()
                    };
                    println!("second {second}: {} notifications ({} in total, busiest sliding second {}{bad})",
                        all.len() - seen, all.len(), busiest_second(&all));
                    seen = all.len();
                }
            }
        }
    }
    receiver.stopped().await;
    Ok(())
}
