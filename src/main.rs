//! The `dropline` binary: parse the command line, set up logging, hand over to the library.

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;

use dropline::auth::{Principal, TokenKeys};
use dropline::cli::{Cli, Command, DrawCommand, Role, TokenArgs, WebhookCommand};
use dropline::config::Settings;
use dropline::domain::ids::{BrandId, UserId};
use dropline::notify::signing::SigningKeys;
use dropline::notify::verify::Verdict;
use dropline::startup::{Application, shutdown_signal};
use dropline::{store, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut log = cli.log.clone();
    if matches!(cli.command, Some(Command::Demo(_))) && log.log_level == "info" {
        // The demo draws progress bars: only warnings may interrupt them.
        log.log_level = "warn".into();
    }
    telemetry::init(&log)?;
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(settings)) => serve(*settings).await,
        Some(Command::Migrate(db)) => {
            let store = store::connect_with(
                &db.database_url,
                db.database_max_connections,
                &tokio_util::task::TaskTracker::new(),
            )
            .await
            .context("Failed to connect to the database")?;
            store
                .migrate()
                .await
                .context("Failed to apply the migrations")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Some(Command::Token(args)) => {
            println!("{}", token(&args)?);
            Ok(())
        }
        Some(Command::Demo(args)) => dropline::demo::run(&args).await.map(|_| ()),
        Some(Command::Webhook(WebhookCommand::Verify(args))) => {
            let now = chrono::Utc::now().timestamp();
            match dropline::notify::verify::verify(&args, now)? {
                Verdict::Valid => {
                    println!("valid");
                    Ok(())
                }
                Verdict::Invalid(why) => {
                    println!("invalid: {why}");
                    std::process::exit(1);
                }
            }
        }
        Some(Command::Draw(DrawCommand::Verify(args))) => {
            let verdict = draw_verify(&args)?;
            print!("{}", verdict.report);
            for note in &verdict.notes {
                eprintln!("note: {note}");
            }
            match verdict.result {
                Ok(checked) if checked.is_empty() => {
                    println!(
                        "verified: nothing to check against (give --draw, --seed-hash or --digest)"
                    );
                    Ok(())
                }
                Ok(checked) => {
                    println!("verified: {}", checked.join(" "));
                    Ok(())
                }
                Err(mismatch) => {
                    eprintln!("mismatch: {mismatch}");
                    std::process::exit(1);
                }
            }
        }
        Some(Command::MockReceiver(args)) => {
            let keys = args
                .secret
                .as_ref()
                .map(|s| SigningKeys::parse(s.expose()))
                .transpose()
                .context("--secret is invalid")?;
            let listener = tokio::net::TcpListener::bind(args.listen.as_str())
                .await
                .with_context(|| format!("Failed to listen on {}", args.listen))?;
            let shutdown = CancellationToken::new();
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                shutdown_signal().await;
                trigger.cancel();
            });
            dropline::http::mock_receiver::run_cli(
                listener,
                std::time::Duration::from_millis(args.latency_ms),
                args.fail_from,
                args.fail_status,
                keys,
                shutdown,
            )
            .await
            .context("The mock receiver failed")
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(settings.listen.as_str())
        .await
        .with_context(|| format!("Failed to listen on {}", settings.listen))?;
    let app = Application::build(&settings, listener).await?;
    let addr = app.local_addr()?;
    if let Some(token) = app.dev_admin_token() {
        tracing::warn!(
            "no DROPLINE_JWT_SECRET is set: a random secret is used, valid only for this run; \
             the admin token for this run is the line printed on stdout (paste it into the \
             dashboard at http://{addr}/ or send it as Authorization: Bearer)"
        );
        // One line on stdout, never in the log stream (which may be shipped elsewhere).
        println!("{token}");
    }
    tracing::info!(%addr, "dropline is listening");
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        trigger.cancel();
    });
    app.run(shutdown).await
}

fn token(args: &TokenArgs) -> anyhow::Result<String> {
    let principal = match args.role {
        Role::Admin => Principal::Admin,
        Role::Brand => {
            let id = args
                .brand_id
                .context("--brand-id is required for role brand")?;
            Principal::Brand(BrandId::try_from(id).context("--brand-id must be positive")?)
        }
        Role::User => {
            let id = args.sub.context("--sub is required for role user")?;
            Principal::User(UserId::try_from(id).context("--sub must be positive")?)
        }
    };
    Ok(TokenKeys::new(args.jwt_secret.as_bytes()).mint(principal, args.ttl)?)
}

/// Reads the saved documents, recomputes the draw and checks it.
fn draw_verify(
    args: &dropline::cli::DrawVerifyArgs,
) -> anyhow::Result<dropline::domain::draw_check::Verdict> {
    use dropline::domain::draw_check::{Request, verify};
    let read = |file: &std::path::Path| {
        std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))
    };
    let entries = args
        .entries
        .iter()
        .map(|f| read(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let draw = args.draw.as_deref().map(read).transpose()?;
    Ok(verify(&Request {
        seed: args.seed.as_deref(),
        seed_hash: args.seed_hash.as_deref(),
        digest: args.digest.as_deref(),
        units: args.units,
        draw: draw.as_deref(),
        entries: &entries,
    })?)
}
