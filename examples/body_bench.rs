//! What bodies sent in tiny chunks cost the server's memory (see docs/benchmarks.md,
//! "Bodies in tiny chunks").
//!
//!     cargo build --release --bin dropline --example body_bench
//!     target/release/examples/body_bench [--server target/release/dropline] [--pace-us 20]
//!
//! Starts `dropline serve` as a child process on a temporary SQLite file and a free loopback
//! port, then sends, over raw TCP with `Transfer-Encoding: chunked`: a line import of
//! 1,000,000 ids, one id a chunk; and three times 20 concurrent orders whose 64 KiB bodies
//! come one byte a chunk. Each chunk is its own write, followed by a pause of `--pace-us`
//! (the sleep takes longer, some 60 µs), so the server reads chunks a few at a time as it
//! would from a slow client, not in large runs. It prints the server's resident memory (VmRSS of
//! /proc/<pid>/status) before and after each, and its peak (VmHWM). Traffic goes only to
//! 127.0.0.1. The server runs with `DROPLINE_BODY_READ_TIMEOUT_MS=600000`, so that the
//! trickled bodies are read to their end or limit rather than cut at 10 s.

use anyhow::{Context, bail};
use dropline::auth::{Principal, TokenKeys};
use dropline::domain::ids::UserId;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const SECRET: &str = "body-bench-secret-of-a-decent-length";
const IDS: i64 = 1_000_000;
const ORDERS: i64 = 20;
const ROUNDS: i64 = 3;
const ORDER_BODY: usize = 64 * 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let server = match args.iter().position(|a| a == "--server") {
        Some(i) => PathBuf::from(args.get(i + 1).context("--server PATH")?),
        None => std::env::current_exe()?
            .parent()
            .and_then(|examples| examples.parent())
            .context("no target directory")?
            .join("dropline"),
    };
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(&server)
        .arg("serve")
        .env_clear()
        .env("DROPLINE_LISTEN", &addr)
        .env(
            "DROPLINE_DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
        )
        .env("DROPLINE_JWT_SECRET", SECRET)
        // Trickled bodies take longer than the default 10 s: the most the setting allows,
        // so every body is read whole (or to its limit).
        .env("DROPLINE_BODY_READ_TIMEOUT_MS", "600000")
        .env(
            "DROPLINE_LOG_LEVEL",
            std::env::var("DROPLINE_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let pid = child.id().context("no pid")?;
    let pace = match args.iter().position(|a| a == "--pace-us") {
        Some(i) => Duration::from_micros(args.get(i + 1).context("--pace-us N")?.parse()?),
        None => Duration::from_micros(20),
    };
    let result = run(&addr, pid, pace).await;
    child.kill().await?;
    result
}

async fn run(addr: &str, pid: u32, pace: Duration) -> anyhow::Result<()> {
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let keys = TokenKeys::new(SECRET.as_bytes());
    let admin = keys.mint(Principal::Admin, Duration::from_secs(3600))?;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let brand: Value = post("/brands", json!({"name": "Helinox", "category": "camping"}))
        .await?
        .json()
        .await?;
    let product: Value = post(
        "/products",
        json!({"name": "Chair One", "brand_ids": [brand["id"]], "price": 1000,
            "stock": 1000}),
    )
    .await?
    .json()
    .await?;
    let product = product["id"].as_i64().context("product id")?;
    let start = memory(pid)?;
    println!("server RSS at start: {} MB", start.0 / 1024);

    // A line import of 1,000,000 ids, one id (and its comma) a chunk.
    let mut wire = head(
        &format!("/admin/products/{product}/subscriptions/import"),
        &admin,
    );
    chunk(&mut wire, b"{\"user_ids\":[");
    for id in 1..=IDS {
        let sep = if id == IDS { "]}" } else { "," };
        chunk(&mut wire, format!("{id}{sep}").as_bytes());
    }
    wire.piece(b"0\r\n\r\n");
    let at = Instant::now();
    let status = exchange(addr, wire.clone(), pace).await?;
    let after_import = memory(pid)?;
    println!(
        "import of {IDS} ids in one-id chunks ({} MB on the wire): {status} in {:.1} s; \
         RSS {} MB, peak {} MB",
        wire.len() / 1_000_000,
        at.elapsed().as_secs_f64(),
        after_import.0 / 1024,
        after_import.1 / 1024
    );

    // Three times 20 concurrent orders with 64 KiB bodies of 1-byte chunks.
    let mut body = br#"{"quantity":1}"#.to_vec();
    body.resize(ORDER_BODY, b' ');
    for round in 0..ROUNDS {
        let at = Instant::now();
        let mut tasks = Vec::new();
        for n in 0..ORDERS {
            let user = keys.mint(
                Principal::User(UserId::try_from(round * ORDERS + n + 1)?),
                Duration::from_secs(3600),
            )?;
            let mut wire = head(&format!("/products/{product}/orders"), &user);
            for byte in &body {
                chunk(&mut wire, std::slice::from_ref(byte));
            }
            wire.piece(b"0\r\n\r\n");
            let addr = addr.to_owned();
            tasks.push(tokio::spawn(
                async move { exchange(&addr, wire, pace).await },
            ));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await??);
        }
        statuses.sort_unstable();
        statuses.dedup();
        let now = memory(pid)?;
        println!(
            "round {}: {ORDERS} orders of 64 KiB in 1-byte chunks: {statuses:?} in {:.1} s; \
             RSS {} MB, peak {} MB",
            round + 1,
            at.elapsed().as_secs_f64(),
            now.0 / 1024,
            now.1 / 1024
        );
    }
    Ok(())
}

/// A request on the wire, in the pieces it is sent in.
#[derive(Clone)]
struct Wire {
    bytes: Vec<u8>,
    /// Where each piece ends.
    ends: Vec<usize>,
}

impl Wire {
    fn piece(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }
}

/// The head of a chunked JSON POST; the connection closes after the answer.
fn head(path: &str, token: &str) -> Wire {
    let mut wire = Wire {
        bytes: Vec::new(),
        ends: Vec::new(),
    };
    wire.piece(
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    wire
}

/// Adds `data` as one chunk, sent in a write of its own.
fn chunk(wire: &mut Wire, data: &[u8]) {
    let mut piece = format!("{:x}\r\n", data.len()).into_bytes();
    piece.extend_from_slice(data);
    piece.extend_from_slice(b"\r\n");
    wire.piece(&piece);
}

/// Sends `wire` on a new connection, each piece (the head, then one chunk) in a write of its
/// own and `pace` after it, as a client trickling its chunks does, so that the server reads
/// them one by one; answers the status of the reply.
async fn exchange(addr: &str, wire: Wire, pace: Duration) -> anyhow::Result<u16> {
    let addr = addr.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&addr)?;
        stream.set_nodelay(true)?;
        let mut write = stream.try_clone()?;
        // The server may answer (413) and close before it has read everything. The writer
        // keeps its half open until the answer is in: hyper drops a request whose client
        // half-closes.
        let sending = std::thread::spawn(move || {
            let mut from = 0;
            for &to in &wire.ends {
                if write.write_all(&wire.bytes[from..to]).is_err() {
                    break;
                }
                from = to;
                if !pace.is_zero() {
                    std::thread::sleep(pace);
                }
            }
            write
        });
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        let _write = sending.join();
        let text = String::from_utf8_lossy(&answer);
        text.get(9..12)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("no answer: {text:?} (read: {read:?})"))
    })
    .await?
}

/// The server's resident memory and its peak, in KiB.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .with_context(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}
