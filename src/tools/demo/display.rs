//! The demo's terminal output: live progress bars and the closing summary.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt;
use std::time::Duration;

use super::buyers::OrderCounts;
use crate::domain::round::{Round, RoundStatus};
use crate::events::RoundProgress;

/// The bars: people notified, stock left, and a line with the rate.
pub(crate) struct Bars {
    _multi: MultiProgress,
    sent: ProgressBar,
    stock: ProgressBar,
    rate: ProgressBar,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Bars {
    /// Bars drawn on stderr when it is a terminal (hidden otherwise).
    pub(crate) fn new(line: u64, stock: u64) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let sent = multi.add(ProgressBar::new(line));
        sent.set_style(style(
            "  sent   [{bar:40.cyan/blue}] {pos:>6}/{len} notified",
        ));
        let stock_bar = multi.add(ProgressBar::new(stock));
        stock_bar.set_style(style("  stock  [{bar:40.yellow/red}] {pos:>6}/{len} left"));
        stock_bar.set_position(stock);
        let rate = multi.add(ProgressBar::new_spinner());
        rate.set_style(style("  {spinner} {msg}"));
        rate.enable_steady_tick(Duration::from_millis(120));
        Self {
            _multi: multi,
            sent,
            stock: stock_bar,
            rate,
        }
    }

    /// Moves the bars to an event's figures.
    pub(crate) fn show(&self, e: &RoundProgress) {
        self.sent.set_position(e.notified_count.max(0) as u64);
        self.stock.set_position(e.stock.max(0) as u64);
        self.rate.set_message(format!(
            "{} · {:.0}/s now · busiest {}/s",
            e.status.as_str(),
            e.rate_per_sec,
            e.busiest_second
        ));
    }

    /// Leaves the bars as they are.
    pub(crate) fn finish(&self) {
        self.sent.abandon();
        self.stock.abandon();
        self.rate.finish_and_clear();
    }
}

/// How long a round ran, in seconds.
pub(crate) fn seconds(round: &Round) -> f64 {
    round
        .finished_at
        .map(|f| (f - round.started_at).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// What the demo showed, for the closing lines (and tests).
#[derive(Debug, Clone)]
pub struct Summary {
    /// The round's final status.
    pub status: RoundStatus,
    /// The round number.
    pub round: i64,
    /// People in line.
    pub line: i64,
    /// People the round notified.
    pub notified: i64,
    /// The last user of the unbroken run of notifications.
    pub stopped_after_user: Option<i64>,
    /// How long the round ran.
    pub seconds: f64,
    /// The most notification requests the engine started within one sliding second.
    pub busiest_started: i64,
    /// The most notifications that arrived at the receiver within one sliding second (network
    /// and scheduling jitter can bunch arrivals that started evenly).
    pub busiest_arrived: usize,
    /// The configured rate limit.
    pub rate_limit: u32,
    /// The buyers' orders.
    pub orders: OrderCounts,
    /// Units left after the round.
    pub stock_left: i64,
    /// The demo's time from restock to summary.
    pub wall: Duration,
}

impl Summary {
    /// Notifications per second over the round.
    pub fn achieved_rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.notified as f64 / self.seconds
        } else {
            0.0
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\nSummary")?;
        writeln!(f, "  round {}: {}", self.round, self.status.as_str())?;
        let at = self
            .stopped_after_user
            .map_or("nobody".to_owned(), |u| format!("user {u}"));
        writeln!(
            f,
            "  stopped at place {} of {} in line (after {at})",
            self.notified, self.line
        )?;
        writeln!(
            f,
            "  rate: {:.0} notifications/s achieved over {:.1}s; busiest second {} started \
             (limit {}), {} arrived",
            self.achieved_rate(),
            self.seconds,
            self.busiest_started,
            self.rate_limit,
            self.busiest_arrived
        )?;
        writeln!(
            f,
            "  orders placed: {} ({} turned away sold out, {} other); stock left: {}",
            self.orders.placed, self.orders.sold_out, self.orders.other, self.stock_left
        )?;
        write!(f, "  done in {:.1}s", self.wall.as_secs_f64())
    }
}
