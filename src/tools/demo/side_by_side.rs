//! The claim demo's closing lines: the broadcast round and the claim round in two columns.

use std::fmt;
use std::time::Duration;

use super::buyers::OrderCounts;
use crate::domain::round::RoundStatus;

/// One round of the comparison.
#[derive(Debug, Clone)]
pub struct Side {
    /// The round's final status.
    pub status: RoundStatus,
    /// People the round notified (in claim mode: the claims it made).
    pub notified: i64,
    /// The buyers' orders.
    pub orders: OrderCounts,
    /// Claims that ran out unused (0 in broadcast mode).
    pub claims_expired: i64,
    /// How long the round ran, from the restock until every unit was in an order.
    pub seconds: f64,
    /// Units left after the round.
    pub stock_left: i64,
}

impl Side {
    /// Notifications per unit sold (None when nothing sold).
    pub fn per_unit_sold(&self) -> Option<f64> {
        (self.orders.placed > 0).then(|| self.notified as f64 / self.orders.placed as f64)
    }
}

/// Both rounds, for the closing lines (and tests).
#[derive(Debug, Clone)]
pub struct Comparison {
    /// People in each line.
    pub line: i64,
    /// Units each restock added.
    pub quantity: i64,
    /// The percentage of notified people who order.
    pub take_share: u64,
    /// The broadcast round.
    pub broadcast: Side,
    /// The claim round.
    pub claim: Side,
    /// The time from the first restock to the summary.
    pub wall: Duration,
}

fn row(f: &mut fmt::Formatter<'_>, label: &str, b: &str, c: &str) -> fmt::Result {
    writeln!(f, "  {label:<30}{b:>22}{c:>22}")
}

fn per_unit(side: &Side) -> String {
    side.per_unit_sold()
        .map_or("-".to_owned(), |r| format!("{r:.2}"))
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, c) = (&self.broadcast, &self.claim);
        writeln!(
            f,
            "\nSummary: {} people in line, {} units, {}% of those notified order",
            self.line, self.quantity, self.take_share
        )?;
        row(f, "", "broadcast", "claim")?;
        row(f, "round ended", b.status.as_str(), c.status.as_str())?;
        let text = |n: i64| n.to_string();
        row(f, "people notified", &text(b.notified), &text(c.notified))?;
        let sold = |s: &Side| s.orders.placed.to_string();
        row(f, "units sold", &sold(b), &sold(c))?;
        row(f, "notifications per unit sold", &per_unit(b), &per_unit(c))?;
        let away = |s: &Side| s.orders.sold_out.to_string();
        row(f, "turned away sold out", &away(b), &away(c))?;
        row(f, "claims expired", "-", &text(c.claims_expired))?;
        let secs = |s: &Side| format!("{:.1}s", s.seconds);
        row(f, "round took", &secs(b), &secs(c))?;
        row(f, "stock left", &text(b.stock_left), &text(c.stock_left))?;
        let other = |s: &Side| s.orders.other.to_string();
        row(f, "other answers to orders", &other(b), &other(c))?;
        write!(f, "  done in {:.1}s", self.wall.as_secs_f64())
    }
}
