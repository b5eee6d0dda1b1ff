//! Prometheus metrics: the one process-wide recorder and a named function per series.
//!
//! Capabilities call these functions instead of the `metrics` macros so every series name and
//! label lives here. Labels never carry per-request data with unbounded values (user ids,
//! tokens); products and routes are bounded by the catalogue and the router, methods by the
//! standard set. Every series without a product label is present, at 0, from the start.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::ids::ProductId;
use crate::domain::round::RoundStatus;

/// Histogram buckets for HTTP request durations, in seconds.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// HTTP requests by route template, method and status, with their duration.
pub const HTTP_DURATION: &str = "dropline_http_request_duration_seconds";
/// Notification requests started, by product (retries included).
pub const NOTIFICATIONS_STARTED: &str = "dropline_notifications_started_total";
/// Notification requests answered with success, by product.
pub const NOTIFICATIONS_SUCCEEDED: &str = "dropline_notifications_succeeded_total";
/// Notification requests that failed (before or after retries), by product.
pub const NOTIFICATIONS_FAILED: &str = "dropline_notifications_failed_total";
/// Notification attempts recorded in the delivery log, by outcome.
pub const DELIVERIES: &str = "dropline_deliveries_total";
/// The notification send rate of the running rounds, per second.
pub const SEND_RATE: &str = "dropline_notification_send_rate";
/// Rounds that entered each status.
pub const ROUNDS: &str = "dropline_rounds_total";
/// Rounds currently in progress in this process.
pub const ROUNDS_IN_PROGRESS: &str = "dropline_rounds_in_progress";
/// Order attempts and order changes, by outcome.
pub const ORDERS: &str = "dropline_orders_total";
/// Units free to order, by product.
pub const STOCK: &str = "dropline_stock_available";
/// Units taken by orders whose commit is under way, by product.
pub const STOCK_PENDING: &str = "dropline_stock_pending";
/// Draws run by this process.
pub const DRAWS: &str = "dropline_draws_total";
/// Draw entries by outcome (`entered`, `replaced`, `withdrawn`).
pub const DRAW_ENTRIES: &str = "dropline_draw_entries_total";
/// Claims by outcome (`made`, `used`, `expired`, `released`).
pub const CLAIMS: &str = "dropline_claims_total";
/// 1 while this instance hears the stock-change channel, 0 while it reads the counters instead.
pub const STOCK_FEED_LIVE: &str = "dropline_stock_feed_live";
/// Stock-change messages this instance could not read.
pub const STOCK_FEED_UNREADABLE: &str = "dropline_stock_feed_unreadable_total";
/// 1, labelled with the version of the running binary.
pub const BUILD_INFO: &str = "dropline_build_info";

/// Every outcome `dropline_orders_total` counts, so each series exists from the start.
pub const ORDER_OUTCOMES: &[&str] = &[
    "reserved",
    "replayed",
    "sold_out",
    "sale_not_started",
    "sale_ended",
    "purchase_limit_exceeded",
    "idempotency_key_reused",
    "failed",
    "paid",
    "canceled",
    "expired",
    "draw_only",
    "draw_won",
];

/// Every outcome `dropline_draw_entries_total` counts.
pub const ENTRY_OUTCOMES: &[&str] = &["entered", "replaced", "withdrawn"];

/// Every outcome `dropline_claims_total` counts.
pub const CLAIM_OUTCOMES: &[&str] = &["made", "used", "expired", "released"];

/// The `method` label of requests with a method outside the standard set.
pub const OTHER_METHOD: &str = "OTHER";
/// Methods that keep their own `method` label value.
const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// The process's recorder. Tests start many apps in one process: the recorder is installed
/// once and shared; `None` when another recorder was installed first (metrics then go there).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; later calls return the same handle.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), HTTP_BUCKETS);
            match builder.and_then(PrometheusBuilder::install_recorder) {
                Ok(handle) => {
                    describe();
                    register_at_zero();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the Prometheus recorder could not be installed");
                    None
                }
            }
        })
        .as_ref()
}

/// The scrape payload in the Prometheus text format, process metrics included.
pub fn render() -> String {
    match install() {
        Some(handle) => {
            handle.run_upkeep();
            let mut text = handle.render();
            text.push_str(&super::process::render());
            text
        }
        None => String::new(),
    }
}

/// Creates the series that have no product label with their starting value, so a scrape
/// shows them (and `rate()` works) before the first event.
fn register_at_zero() {
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for outcome in ORDER_OUTCOMES {
        counter!(ORDERS, "outcome" => *outcome).increment(0);
    }
    for status in [
        RoundStatus::InProgress,
        RoundStatus::Completed,
        RoundStatus::CanceledBySoldOut,
        RoundStatus::CanceledByError,
    ] {
        counter!(ROUNDS, "status" => status.as_str()).increment(0);
    }
    gauge!(ROUNDS_IN_PROGRESS).increment(0.0);
    gauge!(SEND_RATE).increment(0.0);
    counter!(DRAWS).increment(0);
    counter!(STOCK_FEED_UNREADABLE).increment(0);
    for outcome in ENTRY_OUTCOMES {
        counter!(DRAW_ENTRIES, "outcome" => *outcome).increment(0);
    }
    for outcome in CLAIM_OUTCOMES {
        counter!(CLAIMS, "outcome" => *outcome).increment(0);
    }
}

/// Creates `product`'s notification counters at 0 (at start-up and when a round of it runs),
/// so a failure counter exists before the first failure.
pub fn notifications_registered(product: ProductId) {
    let id = product.get().to_string();
    for name in [
        NOTIFICATIONS_STARTED,
        NOTIFICATIONS_SUCCEEDED,
        NOTIFICATIONS_FAILED,
    ] {
        counter!(name, "product_id" => id.clone()).increment(0);
    }
}

/// The `method` label for `method`: itself when standard, else [`OTHER_METHOD`], so clients
/// cannot create series by inventing methods.
pub fn method_label(method: &str) -> &'static str {
    KNOWN_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or(OTHER_METHOD)
}

fn describe() {
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request durations by route template, method and status"
    );
    metrics::describe_counter!(
        NOTIFICATIONS_STARTED,
        "Notification requests started, retries included"
    );
    metrics::describe_counter!(
        NOTIFICATIONS_SUCCEEDED,
        "Notification requests that succeeded"
    );
    metrics::describe_counter!(NOTIFICATIONS_FAILED, "Notification requests that failed");
    metrics::describe_counter!(
        DELIVERIES,
        "Notification attempts recorded in the delivery log, by outcome"
    );
    metrics::describe_gauge!(SEND_RATE, "Notifications started in the last second");
    metrics::describe_counter!(ROUNDS, "Restock rounds that entered each status");
    metrics::describe_gauge!(ROUNDS_IN_PROGRESS, "Restock rounds running in this process");
    metrics::describe_counter!(ORDERS, "Orders by outcome");
    metrics::describe_gauge!(STOCK, "Units free to order, by product");
    metrics::describe_gauge!(STOCK_PENDING, "Units being committed by orders, by product");
    metrics::describe_counter!(DRAWS, "Draws run by this process");
    metrics::describe_counter!(DRAW_ENTRIES, "Draw entries by outcome");
    metrics::describe_counter!(CLAIMS, "Claims of claim rounds by outcome");
    metrics::describe_gauge!(
        STOCK_FEED_LIVE,
        "1 while the stock-change feed between instances is heard, 0 while the counters are read instead"
    );
    metrics::describe_counter!(
        STOCK_FEED_UNREADABLE,
        "Stock-change messages between instances that could not be read"
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label names the running build"
    );
}

/// Records one answered HTTP request; `route` is the route template (`/products/{id}`).
pub fn http_request(method: &str, route: &str, status: u16, elapsed: Duration) {
    histogram!(
        HTTP_DURATION,
        "method" => method_label(method),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .record(elapsed.as_secs_f64());
}

/// A notification request started for `product`.
pub fn notification_started(product: ProductId) {
    counter!(NOTIFICATIONS_STARTED, "product_id" => product.get().to_string()).increment(1);
}

/// A notification request for `product` succeeded.
pub fn notification_succeeded(product: ProductId) {
    counter!(NOTIFICATIONS_SUCCEEDED, "product_id" => product.get().to_string()).increment(1);
}

/// A notification request for `product` failed.
pub fn notification_failed(product: ProductId) {
    counter!(NOTIFICATIONS_FAILED, "product_id" => product.get().to_string()).increment(1);
}

/// An attempt that ended `outcome` was recorded in the delivery log.
pub fn delivery_recorded(outcome: &'static str) {
    counter!(DELIVERIES, "outcome" => outcome).increment(1);
}

/// The current send rate of the running rounds, in notifications per second.
pub fn send_rate(per_sec: f64) {
    gauge!(SEND_RATE).set(per_sec);
}

/// A round entered `status`; keeps the in-progress gauge in step.
pub fn round_entered(status: RoundStatus, from: Option<RoundStatus>) {
    counter!(ROUNDS, "status" => status.as_str()).increment(1);
    if from == Some(RoundStatus::InProgress) {
        gauge!(ROUNDS_IN_PROGRESS).decrement(1.0);
    }
    if status == RoundStatus::InProgress {
        gauge!(ROUNDS_IN_PROGRESS).increment(1.0);
    }
}

/// An order request or change ended with `outcome` (`reserved`, `sold_out`, `paid`, …).
pub fn order(outcome: &'static str) {
    counter!(ORDERS, "outcome" => outcome).increment(1);
}

/// A draw ran here.
pub fn draw_ran() {
    counter!(DRAWS).increment(1);
}

/// A draw entry request ended with `outcome` (`entered`, `replaced`, `withdrawn`).
pub fn draw_entry(outcome: &'static str) {
    counter!(DRAW_ENTRIES, "outcome" => outcome).increment(1);
}

/// `n` claims ended with `outcome` (`made`, `used`, `expired`, `released`).
pub fn claims(outcome: &'static str, n: u64) {
    counter!(CLAIMS, "outcome" => outcome).increment(n);
}

/// `n` unpaid holds expired.
pub fn orders_expired(n: u64) {
    counter!(ORDERS, "outcome" => "expired").increment(n);
}

/// Whether the stock-change feed is heard (with Redis).
pub fn stock_feed_live(live: bool) {
    gauge!(STOCK_FEED_LIVE).set(if live { 1.0 } else { 0.0 });
}

/// A stock-change message could not be read.
pub fn stock_feed_unreadable() {
    counter!(STOCK_FEED_UNREADABLE).increment(1);
}

/// The stock the gate holds for `product`.
pub fn stock(product: ProductId, available: i64, pending: i64) {
    let id = product.get().to_string();
    gauge!(STOCK, "product_id" => id.clone()).set(available as f64);
    gauge!(STOCK_PENDING, "product_id" => id).set(pending as f64);
}

#[cfg(test)]
mod tests {
    use super::{OTHER_METHOD, method_label};

    #[test]
    fn unknown_methods_fold_into_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("DELETE"), "DELETE");
        assert_eq!(method_label("BREW"), OTHER_METHOD);
        assert_eq!(method_label("get"), OTHER_METHOD);
    }
}
