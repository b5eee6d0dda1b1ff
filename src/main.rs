//! The `dropline` binary: parse the command line, set up logging, hand over to the library.

use anyhow::Context;
use clap::Parser;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use dropline::auth::{Principal, TokenKeys};
use dropline::cli::{Cli, Command, DrawCommand, QueueCommand, Role, TokenArgs, WebhookCommand};
use dropline::config::Settings;
use dropline::domain::ids::{BrandId, UserId};
use dropline::startup::{Application, shutdown_signal};
use dropline::{store, telemetry, tools};

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
        Some(Command::Demo(args)) => tools::demo::run(&args).await.map(|_| ()),
        Some(Command::Webhook(WebhookCommand::Verify(args))) => tools::webhook_verify::run(&args),
        Some(Command::Draw(DrawCommand::Verify(args))) => tools::draw_verify::run(&args),
        Some(Command::Queue(QueueCommand::Verify(args))) => tools::queue_verify::run(&args),
        Some(Command::MockReceiver(args)) => tools::mock_receiver::command::run(&args).await,
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
    let tasks = TaskTracker::new();
    let trigger = shutdown.clone();
    tasks.spawn(async move {
        tokio::select! {
            () = shutdown_signal() => {
                tracing::info!("shutting down");
                trigger.cancel();
            }
            () = trigger.cancelled() => {}
        }
    });
    tasks.close();
    let ran = app.run(shutdown.clone()).await;
    shutdown.cancel();
    tasks.wait().await;
    ran
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
