//! Connection timeouts: a half-sent request head and an idle kept-alive connection are closed.

use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, connect};

crate::on_every_backend!(
    a_half_sent_request_head_is_closed_after_the_header_read_timeout,
    an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout,
);

/// A safety net only: the timeouts under test are a few hundred milliseconds.
const NET: Duration = Duration::from_secs(20);

/// Restarts `app` with the header read and keep-alive timeouts (ms) given.
async fn with_timeouts(app: TestApp, header_read_ms: u64, keep_alive_ms: u64) -> TestApp {
    app.restart_with(|s| {
        s.http.header_read_timeout_ms = header_read_ms;
        s.http.keep_alive_timeout_ms = keep_alive_ms;
    })
    .await
}

/// A connection on which one request was answered 200; answers it and that answer.
async fn kept_alive(app: &TestApp) -> (TcpStream, String) {
    let mut stream = connect(app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let first = read_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    (stream, first)
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(NET, stream.read_to_end(&mut got))
        .await
        .expect("the server closes the connection")
        .expect("read");
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads one whole response to `GET /healthz` (its body is short and JSON).
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("}") {
        let n = tokio::time::timeout(NET, stream.read(&mut buf))
            .await
            .expect("a response")
            .expect("read");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

async fn a_half_sent_request_head_is_closed_after_the_header_read_timeout(app: TestApp) {
    let app = with_timeouts(app, 300, 60_000).await;
    // On a fresh connection.
    let mut stream = connect(&app).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut stream).await, "");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );

    // And on a kept-alive one, after a first request was answered.
    let (mut stream, _first) = kept_alive(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut stream).await, "");

    // Complete requests are served as before.
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, reqwest::StatusCode::OK);
}

async fn an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(app: TestApp) {
    let app = with_timeouts(app, 60_000, 300).await;
    let (mut stream, first) = kept_alive(&app).await;
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "{first}"
    );
    let idle = Instant::now();
    assert_eq!(read_to_close(&mut stream).await, "");
    assert!(
        idle.elapsed() >= Duration::from_millis(250),
        "{:?}",
        idle.elapsed()
    );
}
