//! The command line: `serve` (the default), `migrate`, `token`, `mock-receiver`, `demo`,
//! `webhook verify`, `draw verify`, `queue verify`. The arguments of the last five are the tools' own
//! (`tools::…`), where `main.rs` dispatches them.

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::parse_ttl;
use crate::config::{DatabaseSettings, LogSettings, Settings};
use crate::tools::demo::DemoArgs;
use crate::tools::draw_verify::DrawVerifyArgs;
use crate::tools::mock_receiver::command::MockReceiverArgs;
use crate::tools::queue_verify::QueueVerifyArgs;
use crate::tools::webhook_verify::VerifyArgs;

/// dropline: limited-edition drops and restock alerts.
#[derive(Debug, Parser)]
#[command(
    name = "dropline",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for the default `serve`.
    #[command(flatten)]
    pub serve: Settings,
    /// Logging.
    #[command(flatten)]
    pub log: LogSettings,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve(Box<Settings>),
    /// Apply the database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print a signed token for operators and tests.
    Token(TokenArgs),
    /// Run a recording webhook receiver that prints how many notifications arrive each second.
    MockReceiver(MockReceiverArgs),
    /// Run the whole story on a throwaway database: a line, a restock, buyers, a summary.
    Demo(DemoArgs),
    /// Tools for receivers of signed notifications.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Tools for checking a draw without trusting the server.
    #[command(subcommand)]
    Draw(DrawCommand),
    /// Tools for checking a waiting room's order without trusting the server.
    #[command(subcommand)]
    Queue(QueueCommand),
}

/// `queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Recompute a waiting room's order from its revealed seed and saved member list: prints
    /// the seed's hash and every place, then `verified:` and the checks passed; exits 1
    /// naming the first mismatch.
    Verify(QueueVerifyArgs),
}

/// `draw` subcommands.
#[derive(Debug, Subcommand)]
pub enum DrawCommand {
    /// Recompute a draw from its revealed seed and entry list and check it: prints the seed's
    /// hash, the entries digest, every rank and (with units) the winners, then `verified:`
    /// and the checks passed; exits 1 naming the first mismatch.
    Verify(DrawVerifyArgs),
}

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Check a received notification's signature: prints valid or invalid, exits 0 or 1.
    Verify(VerifyArgs),
}

/// The roles a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Platform operator.
    Admin,
    /// A brand (needs --brand-id).
    Brand,
    /// A buyer (needs --sub).
    User,
}

/// Arguments of `token`.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// The role.
    #[arg(long, value_enum)]
    pub role: Role,
    /// The user id, for role user.
    #[arg(long)]
    pub sub: Option<i64>,
    /// The brand id, for role brand.
    #[arg(long)]
    pub brand_id: Option<i64>,
    /// How long the token is valid, e.g. 1h, 30m.
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub ttl: std::time::Duration,
    /// The HS256 secret the server uses.
    #[arg(long, env = "DROPLINE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}
