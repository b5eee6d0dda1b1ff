//! Hostile bodies and protocol abuse: bodies in tiny chunks, bodies that never finish, heads
//! the HTTP parser refuses, times outside years 1970..=9999, tokens with critical extensions.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Db, SECRET, TestApp, assert_error, connect};

crate::on_every_backend!(
    chunked_bodies_are_read_whole_within_their_limit,
    a_body_that_does_not_arrive_in_time_is_answered_408_and_closed,
    sale_times_outside_years_1970_to_9999_are_refused,
    a_token_naming_critical_extensions_is_refused,
);

/// A safety net only: every answer under test comes within a second.
const NET: Duration = Duration::from_secs(20);

/// A raw answer: status, lower-cased head, body.
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k == name).then(|| v.trim())
        })
    }

    fn assert_envelope(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}\n{}", self.head, self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{}",
            self.head
        );
        let id = self.header("x-request-id").unwrap_or_default();
        assert!(!id.is_empty(), "{}", self.head);
    }
}

/// Reads one answer (its head and the body its `Content-Length` names) from `stream`.
async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                let body = &got[end + 4..end + 4 + length];
                let status = head[9..12].parse().expect("status");
                return Answer {
                    status,
                    body: serde_json::from_slice(body).unwrap_or(Value::Null),
                    head,
                };
            }
        }
        let n = tokio::time::timeout(NET, stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// Whether the server closes `stream` (after the answer already read).
async fn closes(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(NET, stream.read_to_end(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Sends `head` and `body` on a new connection and reads the answer.
async fn exchange(app: &TestApp, head: &str, body: &[u8]) -> Answer {
    let mut stream = connect(app).await;
    let mut all = head.as_bytes().to_vec();
    all.extend_from_slice(body);
    // The server may answer (413) before it has read all of it.
    let _ = stream.write_all(&all).await;
    read_answer(&mut stream).await
}

/// `body` in chunked transfer coding, `size` bytes a chunk.
fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 6 + 5);
    for chunk in body.chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// The head of a chunked JSON `POST path` with `token`.
fn chunked_post(path: &str, token: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
}

/// `json` padded with trailing spaces (still valid JSON) to exactly `len` bytes.
fn padded(json: &Value, len: usize) -> Vec<u8> {
    let mut raw = json.to_string().into_bytes();
    assert!(raw.len() <= len);
    raw.resize(len, b' ');
    raw
}

async fn chunked_bodies_are_read_whole_within_their_limit(app: TestApp) {
    let product = app.create_product(json!({"stock": 5})).await["id"]
        .as_i64()
        .unwrap();
    let admin = app.admin();
    let import = format!("/admin/products/{product}/subscriptions/import");

    // 2,000 ids, one id (and its comma) a chunk, all parsed in order.
    let ids: Vec<i64> = (1..=2000).collect();
    let mut body = b"{\"user_ids\":[".to_vec();
    let mut pieces = vec![body.clone()];
    for (i, id) in ids.iter().enumerate() {
        let sep = if i + 1 == ids.len() { "]}" } else { "," };
        pieces.push(format!("{id}{sep}").into_bytes());
    }
    body.clear();
    for piece in &pieces {
        body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        body.extend_from_slice(piece);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let got = exchange(&app, &chunked_post(&import, &admin), &body).await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["imported"], 2000, "{}", got.body);
    assert_eq!(app.line(product).await, ids);

    // An ordinary body of exactly 64 KiB in 1-byte chunks is read; one byte more is 413.
    let brand = app.create_brand("Snow Peak", "camping").await;
    let create = json!({"name": "Tent", "brand_ids": [brand], "price": 1, "stock": 1});
    let got = exchange(
        &app,
        &chunked_post("/products", &admin),
        &chunked(&padded(&create, 64 * 1024), 1),
    )
    .await;
    assert_eq!(got.status, 201, "{}", got.body);
    assert_eq!(got.body["name"], "Tent");
    let got = exchange(
        &app,
        &chunked_post("/products", &admin),
        &chunked(&padded(&create, 64 * 1024 + 1), 1),
    )
    .await;
    got.assert_envelope(413, "payload_too_large");

    // The import's own limit, 4 MiB, holds for chunked bodies too.
    let small = json!({"user_ids": [2001, 2002]});
    let got = exchange(
        &app,
        &chunked_post(&import, &admin),
        &chunked(&padded(&small, 4 * 1024 * 1024), 4096),
    )
    .await;
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.body["imported"], 2, "{}", got.body);
    let got = exchange(
        &app,
        &chunked_post(&import, &admin),
        &chunked(&padded(&small, 4 * 1024 * 1024 + 1), 4096),
    )
    .await;
    got.assert_envelope(413, "payload_too_large");

    // A broken chunk is a 400 in the envelope.
    let got = exchange(
        &app,
        &chunked_post("/products", &admin),
        b"5\r\n{\"a\":\r\nzz\r\n",
    )
    .await;
    got.assert_envelope(400, "bad_request");

    // A body in the extractor that parses at once (paying an order) reads the same way.
    let order = app
        .post(
            &format!("/products/{product}/orders"),
            Some(&app.user(7)),
            json!({}),
        )
        .await;
    assert_eq!(order.0, StatusCode::CREATED, "{}", order.1);
    let pay = format!("/orders/{}/pay", order.1["id"]);
    let got = exchange(
        &app,
        &chunked_post(&pay, &app.user(7)),
        &chunked(&padded(&json!({"payment_ref": "pay-1"}), 64 * 1024 + 1), 1),
    )
    .await;
    got.assert_envelope(413, "payload_too_large");
}

async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_closed(app: TestApp) {
    let app = app
        .restart_with(|s| s.http.body_read_timeout_ms = 300)
        .await;
    let product = app.create_product(json!({})).await["id"].as_i64().unwrap();
    let admin = app.admin();
    let user = app.user(3);
    // A body read before the handler looks at it (creating a product), and one parsed by
    // the extractor (placing an order).
    for (path, token) in [
        ("/products".to_owned(), &admin),
        (format!("/products/{product}/orders"), &user),
    ] {
        let mut stream = connect(&app).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let got = read_answer(&mut stream).await;
        got.assert_envelope(408, "body_read_timeout");
        assert_eq!(got.header("connection"), Some("close"), "{}", got.head);
        assert!(closes(&mut stream).await, "the connection stays open");
    }
    // Nothing was ordered, and whole bodies are read as before.
    let (status, body) = app
        .post(
            &format!("/products/{product}/orders"),
            Some(&user),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn sale_times_outside_years_1970_to_9999_are_refused(app: TestApp) {
    let product = app.create_product(json!({})).await["id"].as_i64().unwrap();
    for (field, at) in [
        ("sale_starts_at", "+99999-01-01T00:00:00Z"),
        ("sale_starts_at", "0000-01-01T00:00:00Z"),
        ("sale_ends_at", "1969-12-31T23:59:59Z"),
        ("sale_ends_at", "-0001-06-01T00:00:00Z"),
    ] {
        let got = app
            .try_create_product(&app.admin(), json!({ field: at }))
            .await;
        let message = assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(message.contains(field), "{message}");
        let got = app
            .patch(
                &format!("/products/{product}"),
                Some(&app.admin()),
                json!({ field: at }),
            )
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    // The ends of the range are fine, and come back as RFC 3339.
    let got = app
        .try_create_product(
            &app.admin(),
            json!({"sale_starts_at": "1970-01-01T00:00:00Z",
                "sale_ends_at": "9999-12-31T23:59:59Z"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert_eq!(got.1["sale_starts_at"], "1970-01-01T00:00:00Z");
    assert_eq!(got.1["sale_ends_at"], "9999-12-31T23:59:59Z");
}

async fn a_token_naming_critical_extensions_is_refused(app: TestApp) {
    let claims = json!({"role": "admin", "exp": 4_000_000_000u64});
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let sign = |crit: Option<Vec<String>>| {
        let mut header = Header::new(Algorithm::HS256);
        header.crit = crit;
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    };
    let plain = sign(None);
    let (status, _) = app
        .get("/admin/products/1/subscriptions", Some(&plain))
        .await;
    assert_ne!(status, StatusCode::UNAUTHORIZED);
    for crit in [vec!["exp".to_owned()], vec!["b64".to_owned()], vec![]] {
        let token = sign(Some(crit));
        let got = app
            .get("/admin/products/1/subscriptions", Some(&token))
            .await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "unauthorized");
    }
}

/// Heads hyper refuses itself get the envelope and a request id, then the connection closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_the_parser_refuses_get_the_envelope() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let many: String = (0..101).map(|i| format!("X-Filler-{i}: v\r\n")).collect();
    let big = format!("X-Big: {}\r\n", "a".repeat(600 * 1024));
    for (head, status, code) in [
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            431,
            "request_header_fields_too_large",
        ),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{big}\r\n"),
            431,
            "request_header_fields_too_large",
        ),
        (
            "GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n".to_owned(),
            400,
            "bad_request",
        ),
        (
            "GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n".to_owned(),
            400,
            "bad_request",
        ),
    ] {
        let mut stream = connect(&app).await;
        let _ = stream.write_all(head.as_bytes()).await;
        let got = read_answer(&mut stream).await;
        got.assert_envelope(status, code);
        assert_eq!(got.header("x-request-id").map(str::len), Some(32));
        assert!(closes(&mut stream).await);
    }

    // After answers on a kept-alive connection, those answers are intact and the refusal
    // still comes in the envelope.
    let mut stream = connect(&app).await;
    for _ in 0..2 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let got = read_answer(&mut stream).await;
        assert_eq!(got.status, 200, "{}", got.head);
        assert_eq!(got.body["status"], "ok", "{}", got.body);
    }
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n")
        .await
        .unwrap();
    read_answer(&mut stream)
        .await
        .assert_envelope(400, "bad_request");
}
