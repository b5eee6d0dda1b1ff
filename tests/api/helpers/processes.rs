//! Real `dropline serve` processes: one with its log lines, instances on free ports, a
//! request to one, and a round's end as a process reports it.

use reqwest::StatusCode;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;

use super::tokens::SECRET;
use tokio::process::{Child, Command};

/// A `dropline serve` process and its base URL.
pub struct Instance {
    pub child: Child,
    pub base: String,
}

async fn free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    l.local_addr().expect("addr").port()
}

/// Starts `dropline serve` with `env` and waits until it is ready.
pub async fn start(env: &[(&str, String)], name: &str, client: &reqwest::Client) -> Instance {
    let port = free_port().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dropline"));
    cmd.arg("serve")
        .env("DROPLINE_LISTEN", format!("127.0.0.1:{port}"))
        .env("DROPLINE_INSTANCE_ID", name)
        .env("DROPLINE_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn dropline");
    let base = format!("http://127.0.0.1:{port}");
    // Ready when /readyz answers 200 (database and Redis reachable); a bounded wait.
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return Instance { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("instance {name} never became ready");
}

/// Sends a request; returns the status and the JSON body (Null when none).
pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Reads a round from `base` until it is no longer IN_PROGRESS: a real process has no test
/// clock to move, so this is a bounded wait.
pub async fn wait_for_end(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    product: i64,
    round: i64,
) -> Value {
    for _ in 0..600 {
        let path = format!("{base}/products/{product}/notifications/rounds/{round}");
        let (s, r) = send(client, reqwest::Method::GET, path, token, None).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        if r["status"] != "IN_PROGRESS" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("round {round} of product {product} never ended");
}

/// The first 1,000 recipients of a round as `base` lists them.
pub async fn recipients_of(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    product: i64,
    round: i64,
) -> Vec<i64> {
    let path = format!("{base}/products/{product}/notifications/rounds/{round}/recipients");
    let path = format!("{path}?limit=1000");
    let (s, page) = send(client, reqwest::Method::GET, path, token, None).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["user_id"].as_i64().expect("user"))
        .collect()
}

/// After a kill and a takeover: the round ended COMPLETED having notified exactly `line`, in
/// line order, each once in its history; the receiver saw every user, and at most
/// `in_flight` of them twice (requests in flight at the kill).
#[allow(clippy::too_many_arguments)]
pub async fn assert_finished_exactly(
    client: &reqwest::Client,
    base: &str,
    admin: &str,
    product: i64,
    round: i64,
    line: &[i64],
    receiver: &dropline::tools::mock_receiver::MockReceiver,
    in_flight: usize,
) {
    let ended = wait_for_end(client, base, admin, product, round).await;
    assert_eq!(ended["status"], "COMPLETED", "{ended}");
    assert_eq!(ended["notified_count"], line.len(), "{ended}");
    let recipients = recipients_of(client, base, admin, product, round).await;
    assert_eq!(recipients, line, "every user once, in line order");
    let arrivals = receiver.arrivals();
    let distinct: std::collections::HashSet<i64> =
        arrivals.iter().map(|a| a.notification.user_id).collect();
    assert_eq!(distinct.len(), line.len());
    let duplicates = arrivals.len() - distinct.len();
    assert!(
        duplicates <= in_flight,
        "{duplicates} duplicates at the receiver"
    );
}

/// A `dropline serve` process on a free loopback port with only the `DROPLINE_*` settings
/// given (none inherited, no colours), killed when dropped; its log lines arrive on `lines`.
pub struct ServedBinary {
    pub child: tokio::process::Child,
    /// `host:port` it listens on.
    pub addr: String,
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl ServedBinary {
    /// How long the binary may take to start listening, or to log a line asked for.
    const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

    /// Starts the binary with `envs` and waits for its listening line.
    pub async fn start(envs: &[(&str, &str)]) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_dropline"));
        for (k, _) in std::env::vars() {
            if k.starts_with("DROPLINE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            .envs(envs.iter().copied())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn dropline");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = tokio::sync::mpsc::unbounded_channel();
        // Read every line, so the child never blocks on a full pipe.
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut served = Self {
            child,
            addr: String::new(),
            lines,
        };
        let listening = served.line_with("dropline is listening").await;
        served.addr = listening
            .rsplit("addr=")
            .next()
            .expect("addr")
            .trim()
            .to_owned();
        served
    }

    /// The next log line that contains `needle`.
    pub async fn line_with(&mut self, needle: &str) -> String {
        tokio::time::timeout(Self::PATIENCE, async {
            loop {
                let line = self.lines.recv().await.expect("dropline ended");
                if line.contains(needle) {
                    return line;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no log line with {needle}"))
    }
}

/// `POST /products/{product}/notifications/re-stock` at `base` without waiting; asserts 202
/// and answers the round's number.
pub async fn restock_at(client: &reqwest::Client, base: &str, token: &str, product: i64) -> i64 {
    let path = format!("{base}/products/{product}/notifications/re-stock");
    let (s, round) = send(client, reqwest::Method::POST, path, token, None).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{round}");
    round["round"].as_i64().expect("round")
}

/// A client for real processes: a minute at most per request.
pub fn process_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The settings of a process on `database_url` notifying `receiver_url` with the test secret,
/// 300 requests a second and 16 in flight.
pub fn notifying_env(database_url: String, receiver_url: String) -> Vec<(&'static str, String)> {
    vec![
        ("DROPLINE_DATABASE_URL", database_url),
        ("DROPLINE_JWT_SECRET", SECRET.to_owned()),
        ("DROPLINE_NOTIFY_URL", receiver_url),
        ("DROPLINE_NOTIFY_RATE", "300".to_owned()),
        ("DROPLINE_NOTIFY_CONCURRENCY", "16".to_owned()),
    ]
}
