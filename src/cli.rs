//! The command line: `serve` (the default), `migrate`, `token`, `mock-receiver`, `demo`,
//! `webhook verify`, `draw verify`.

use clap::{Parser, Subcommand, ValueEnum};

use crate::auth::parse_ttl;
use crate::config::{DatabaseSettings, LogSettings, Secret, Settings};

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
    Demo(crate::demo::DemoArgs),
    /// Tools for receivers of signed notifications.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Tools for checking a draw without trusting the server.
    #[command(subcommand)]
    Draw(DrawCommand),
}

/// `draw` subcommands.
#[derive(Debug, Subcommand)]
pub enum DrawCommand {
    /// Recompute a draw from its revealed seed and entry list and check it: prints the seed's
    /// hash, the entries digest, every rank and (with units) the winners, then `verified:`
    /// and the checks passed; exits 1 naming the first mismatch.
    Verify(DrawVerifyArgs),
}

/// Arguments of `draw verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrawVerifyArgs {
    /// The revealed seed (`seed` of `GET /products/{id}/draw`); else the --draw document's.
    #[arg(long, required_unless_present = "draw")]
    pub seed: Option<String>,
    /// The entries: saved `GET /products/{id}/draw/entries` pages (JSON), or one
    /// `user_id,quantity[,rank,status]` per line. Repeat for several files. Listed ranks and
    /// statuses are checked against the recomputed draw.
    #[arg(long, required = true)]
    pub entries: Vec<std::path::PathBuf>,
    /// The units the draw had (`units` of `GET /products/{id}/draw`: the product's free stock
    /// at the draw), to compute the winners; else the --draw document's.
    #[arg(long)]
    pub units: Option<i64>,
    /// A saved `GET /products/{id}/draw`: its seed, seed hash, entry count, digest and units
    /// are checked.
    #[arg(long)]
    pub draw: Option<std::path::PathBuf>,
    /// The seed hash published before the window (lowercase hex SHA-256) to check the seed
    /// against.
    #[arg(long)]
    pub seed_hash: Option<String>,
    /// The published entries digest to check the list against.
    #[arg(long)]
    pub digest: Option<String>,
}

pub use crate::notify::verify::VerifyArgs;

/// `webhook` subcommands.
#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Check a received notification's signature: prints valid or invalid, exits 0 or 1.
    Verify(VerifyArgs),
}

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
