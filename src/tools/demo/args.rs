//! The demo's arguments: which story it tells, and the line, units, buyers and rate.

use std::time::Duration;

/// Which story the demo tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DemoMode {
    /// A broadcast round: the line is notified until the stock sells out.
    #[default]
    Broadcast,
    /// A claim round (each alert sets a unit aside), compared with a broadcast round on the
    /// same line, units and buyers.
    Claim,
}

/// Arguments of `demo`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// The story: a broadcast round, or a claim round beside a broadcast one.
    #[arg(long, value_enum, default_value_t = DemoMode::Broadcast)]
    pub mode: DemoMode,
    /// People in the line [default: 5000, with --mode claim 2000].
    #[arg(long)]
    pub line: Option<i64>,
    /// Units the restock adds [default: 100, with --mode claim 40].
    #[arg(long)]
    pub quantity: Option<i64>,
    /// One notified person in this many tries to buy (broadcast mode).
    #[arg(long, default_value_t = 20)]
    pub buy_every: i64,
    /// The percentage of notified people who order, 0.2 to 2 s after their alert; the others
    /// never do (claim mode, in both of its rounds).
    #[arg(long, default_value_t = 70, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub take_share: u8,
    /// Notifications per second.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Give up waiting for a round after this long.
    #[arg(long, default_value = "50s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

impl DemoArgs {
    /// People in the line, the mode's default unless given.
    pub fn line(&self) -> i64 {
        self.line.unwrap_or(match self.mode {
            DemoMode::Broadcast => 5_000,
            DemoMode::Claim => 2_000,
        })
    }

    /// Units the restock adds, the mode's default unless given.
    pub fn quantity(&self) -> i64 {
        self.quantity.unwrap_or(match self.mode {
            DemoMode::Broadcast => 100,
            DemoMode::Claim => 40,
        })
    }
}
