//! `/metrics` of a freshly started binary, on each backend: a process of its own, so the
//! process-wide counters hold exactly what these requests did.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{MysqlDatabase, ServedBinary, TestApp, mysql_url, sample, scrape_at};

/// A running `dropline serve`, killed when dropped.
struct Served {
    binary: ServedBinary,
    base: String,
    client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
    _mysql: Option<MysqlDatabase>,
}

impl Served {
    /// Starts the binary on `database_url` on a free loopback port.
    async fn start(
        database_url: String,
        dir: Option<tempfile::TempDir>,
        mysql: Option<MysqlDatabase>,
    ) -> Self {
        let binary = ServedBinary::start(&[
            ("DROPLINE_DATABASE_URL", &database_url),
            (
                "DROPLINE_JWT_SECRET",
                "metrics-test-jwt-value-0123456789abcdef",
            ),
        ])
        .await;
        Self {
            base: format!("http://{}", binary.addr),
            binary,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            _dir: dir,
            _mysql: mysql,
        }
    }

    async fn on(backend: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            "sqlite" => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
                Some(Self::start(url, Some(dir), None).await)
            }
            _ => {
                let server = mysql_url()?;
                let db = MysqlDatabase::create(&server).await;
                let url = db.url();
                Some(Self::start(url, Some(dir), Some(db)).await)
            }
        }
    }

    async fn request(&self, method: &str, path: &str) -> reqwest::StatusCode {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        self.client
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
            .status()
    }

    async fn scrape(&self) -> String {
        scrape_at(&self.client, &self.base).await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.binary.child.start_kill();
    }
}

/// The `dropline_http_request_duration_seconds` series (label sets) in `scrape`.
fn http_series(scrape: &str) -> Vec<String> {
    let mut series: Vec<String> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("dropline_http_request_duration_seconds_count{"))
        .filter_map(|l| l.split_once("} ").map(|(labels, _)| labels.to_owned()))
        .collect();
    series.sort();
    series
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite_binary { $(
            #[tokio::test]
            async fn $name() { super::$name("sqlite").await; }
        )* }
        mod mysql_binary { $(
            #[tokio::test]
            async fn $name() { super::$name("mysql").await; }
        )* }
    };
}

on_both!(
    unknown_methods_are_counted_as_other_in_one_series,
    a_fresh_process_shows_build_process_and_zero_counters,
);

async fn unknown_methods_are_counted_as_other_in_one_series(backend: &str) {
    let Some(app) = Served::on(backend).await else {
        return;
    };
    // A first scrape, so the scrape's own series exists before the counts compared below.
    let before = app.scrape().await;
    assert!(!before.contains("method=\"OTHER\""), "{before}");
    let first = app.request("FOO", "/products").await;
    let after_one = app.scrape().await;
    let second = app.request("BAR", "/products").await;
    let after_two = app.scrape().await;

    assert_eq!(first, second, "both unknown methods are answered alike");
    let status = first.as_u16().to_string();
    let labels = [("method", "OTHER"), ("status", status.as_str())];
    let name = "dropline_http_request_duration_seconds_count";
    assert_eq!(sample(&after_one, name, &labels), Some(1.0), "{after_one}");
    assert_eq!(sample(&after_two, name, &labels), Some(2.0), "{after_two}");
    // The second method (and the scrape between) added no series of its own.
    assert_eq!(
        http_series(&after_one).len(),
        http_series(&after_two).len(),
        "{after_two}"
    );
    assert_eq!(http_series(&after_one), http_series(&after_two));
    for scrape in [&after_one, &after_two] {
        assert!(!scrape.contains("method=\"FOO\""), "{scrape}");
        assert!(!scrape.contains("method=\"BAR\""), "{scrape}");
    }
}

async fn a_fresh_process_shows_build_process_and_zero_counters(backend: &str) {
    let Some(app) = Served::on(backend).await else {
        return;
    };

    let scrape = app.scrape().await;

    assert_eq!(
        sample(
            &scrape,
            "dropline_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0),
        "{scrape}"
    );
    let rss = sample(&scrape, "process_resident_memory_bytes", &[]).expect("rss present");
    assert!(rss > 0.0, "{rss}");
    for outcome in [
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
    ] {
        assert_eq!(
            sample(&scrape, "dropline_orders_total", &[("outcome", outcome)]),
            Some(0.0),
            "{outcome}: {scrape}"
        );
    }
    for outcome in ["made", "used", "expired", "released"] {
        assert_eq!(
            sample(&scrape, "dropline_claims_total", &[("outcome", outcome)]),
            Some(0.0),
            "{outcome}: {scrape}"
        );
    }
    for status in [
        "IN_PROGRESS",
        "COMPLETED",
        "CANCELED_BY_SOLD_OUT",
        "CANCELED_BY_ERROR",
    ] {
        assert_eq!(
            sample(&scrape, "dropline_rounds_total", &[("status", status)]),
            Some(0.0),
            "{status}: {scrape}"
        );
    }
}

crate::on_every_backend!(notification_counters_of_existing_products_start_at_zero);

async fn notification_counters_of_existing_products_start_at_zero(mut app: TestApp) {
    let product = app.create_product(json!({"stock": 0})).await["id"]
        .as_i64()
        .expect("id");
    app.stop().await;
    // The binary starts on the same database, which the stopped app keeps alive.
    let served = Served::start(app.settings.database.database_url.clone(), None, None).await;

    let scrape = served.scrape().await;

    let id = product.to_string();
    for name in [
        "dropline_notifications_started_total",
        "dropline_notifications_succeeded_total",
        "dropline_notifications_failed_total",
    ] {
        assert_eq!(
            sample(&scrape, name, &[("product_id", id.as_str())]),
            Some(0.0),
            "{name}: {scrape}"
        );
    }
}
