//! The conventions every answer keeps, whatever layer makes it: the request id, `Location`
//! on 201, `WWW-Authenticate` on 401, the error envelope from every layer, optional CORS, and
//! the one access-log line per request.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

use crate::helpers::{ServedBinary, TestApp};

crate::on_every_backend!(
    a_client_request_id_comes_back_on_every_answer,
    a_request_id_that_is_missing_or_unfit_is_made_by_the_server,
    created_answers_say_where_the_new_thing_is,
    unauthorized_answers_name_the_bearer_scheme,
    every_layer_answers_with_the_envelope,
    cors_is_off_unless_origins_are_configured,
    configured_origins_get_cors_answers,
);

/// Sends `method path` with `headers` and an optional raw body; returns status, headers, body.
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (StatusCode, HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.client.request(method, format!("{}{path}", app.addr));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, value)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

fn assert_envelope(got: &(StatusCode, HeaderMap, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "{:?}", got.2);
    assert_eq!(
        header(&got.1, "content-type"),
        Some("application/json"),
        "{:?}",
        got.2
    );
    assert_eq!(got.2["error"]["code"], code, "{:?}", got.2);
    assert!(
        got.2["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{:?}",
        got.2
    );
}

async fn a_client_request_id_comes_back_on_every_answer(app: TestApp) {
    let product = app.create_product(json!({"stock": 1})).await["id"]
        .as_i64()
        .unwrap();
    let id = "checkout-7f3a.retry_2~";
    let cases: Vec<(&str, String, Option<Vec<u8>>, StatusCode)> = vec![
        ("GET", format!("/products/{product}"), None, StatusCode::OK),
        (
            "GET",
            "/products/999999".into(),
            None,
            StatusCode::NOT_FOUND,
        ),
        ("GET", "/no/such/route".into(), None, StatusCode::NOT_FOUND),
        (
            "DELETE",
            "/healthz".into(),
            None,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        ("GET", "/me/orders".into(), None, StatusCode::UNAUTHORIZED),
        (
            "GET",
            "/products?limit=1&limit=2".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "POST",
            "/brands".into(),
            Some(b"{not json".to_vec()),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (method, path, body, status) in cases {
        let got = raw(&app, method, &path, &[("x-request-id", id)], body).await;
        assert_eq!(got.0, status, "{method} {path}: {:?}", got.2);
        assert_eq!(header(&got.1, "x-request-id"), Some(id), "{method} {path}");
    }
    let longest = "a".repeat(128);
    let got = raw(&app, "GET", "/healthz", &[("x-request-id", &longest)], None).await;
    assert_eq!(header(&got.1, "x-request-id"), Some(longest.as_str()));
}

async fn a_request_id_that_is_missing_or_unfit_is_made_by_the_server(app: TestApp) {
    let made = |headers: &HeaderMap| {
        let id = header(headers, "x-request-id")
            .expect("x-request-id")
            .to_owned();
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        id
    };
    let first = made(&raw(&app, "GET", "/healthz", &[], None).await.1);
    let second = made(&raw(&app, "GET", "/no/such/route", &[], None).await.1);
    assert_ne!(first, second);
    let too_long = "a".repeat(129);
    for unfit in [too_long.as_str(), "two words", ""] {
        let got = raw(&app, "GET", "/healthz", &[("x-request-id", unfit)], None).await;
        let id = made(&got.1);
        assert_ne!(id, unfit);
    }
}

async fn created_answers_say_where_the_new_thing_is(app: TestApp) {
    let admin = app.admin();
    let resp = app
        .client
        .post(format!("{}/brands", app.addr))
        .bearer_auth(&admin)
        .json(&json!({"name": "Snow Peak", "category": "camping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").map(str::to_owned);
    let brand: Value = resp.json().await.unwrap();
    assert_eq!(location, Some(format!("/brands/{}", brand["id"])));
    let other = app.create_brand("Kith", "fashion").await;

    let resp = app
        .client
        .post(format!("{}/products", app.addr))
        .bearer_auth(&admin)
        .json(&json!({"name": "Takibi cape", "brand_ids": [brand["id"], other], "price": 1000, "stock": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").map(str::to_owned);
    let product: Value = resp.json().await.unwrap();
    let product_id = product["id"].as_i64().unwrap();
    assert_eq!(location, Some(format!("/products/{product_id}")));
    let (status, shown) = app.get(&location.unwrap(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["id"], product_id);

    let user = app.user(41);
    let order = |key: &'static str| {
        app.client
            .post(format!("{}/products/{product_id}/orders", app.addr))
            .bearer_auth(&user)
            .header("idempotency-key", key)
            .json(&json!({"quantity": 1}))
            .send()
    };
    let resp = order("k-1").await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header(resp.headers(), "location").map(str::to_owned);
    let placed: Value = resp.json().await.unwrap();
    assert_eq!(location, Some(format!("/orders/{}", placed["id"])));
    let (status, shown) = app.get(&location.unwrap(), Some(&user)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["id"], placed["id"]);
    // A repeat is 200 and creates nothing, so it names no new location.
    let resp = order("k-1").await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "location"), None);

    let join = || {
        app.client
            .put(format!("{}/products/{product_id}/subscription", app.addr))
            .bearer_auth(&user)
            .send()
    };
    let resp = join().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(
        header(resp.headers(), "location"),
        Some(format!("/products/{product_id}/subscription").as_str())
    );
    let resp = join().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(resp.headers(), "location"), None);
}

async fn unauthorized_answers_name_the_bearer_scheme(app: TestApp) {
    let expired = app.expired_admin();
    let bad = format!("Bearer {expired}");
    for headers in [
        vec![],
        vec![("authorization", bad.as_str())],
        vec![("authorization", "Basic Zm9vOmJhcg==")],
    ] {
        let got = raw(&app, "GET", "/me/orders", &headers, None).await;
        assert_envelope(&got, StatusCode::UNAUTHORIZED, "unauthorized");
        assert_eq!(header(&got.1, "www-authenticate"), Some("Bearer"));
    }
    // 403 is a valid token without the right: no challenge.
    let user = format!("Bearer {}", app.user(3));
    let got = raw(
        &app,
        "GET",
        "/admin/events",
        &[("authorization", &user)],
        None,
    )
    .await;
    assert_envelope(&got, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(header(&got.1, "www-authenticate"), None);
}

async fn every_layer_answers_with_the_envelope(app: TestApp) {
    let product = app.create_product(json!({"stock": 1})).await["id"]
        .as_i64()
        .unwrap();
    let admin = format!("Bearer {}", app.admin());
    let auth = [("authorization", admin.as_str())];
    for path in [
        "/products?limit=1&limit=2".to_owned(),
        "/products?after=%FF".to_owned(),
        "/products?after=%4".to_owned(),
        "/products/%FF".to_owned(),
        format!("/products/{product}/notifications/rounds?limit=5&limit=5"),
    ] {
        let got = raw(&app, "GET", &path, &auth, None).await;
        assert_envelope(&got, StatusCode::BAD_REQUEST, "bad_request");
    }
    let got = raw(&app, "GET", "/products?limit=1&limit=2", &[], None).await;
    assert!(
        got.2["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`limit`"),
        "{:?}",
        got.2
    );
    // Over 4 MiB by its Content-Length: refused by the body limit before any byte of the body
    // is read (so the client sends none here), still with the envelope.
    let (status, body) = head_only_post(
        &app,
        &format!("/admin/products/{product}/subscriptions/import"),
        &admin,
        4 * 1024 * 1024 + 1,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    let json = [
        ("authorization", admin.as_str()),
        ("content-type", "application/json"),
    ];
    // Over an ordinary endpoint's 64 KiB.
    let got = raw(&app, "POST", "/brands", &json, Some(vec![b' '; 65 * 1024])).await;
    assert_envelope(&got, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let got = raw(&app, "GET", "/no/such/route", &[], None).await;
    assert_envelope(&got, StatusCode::NOT_FOUND, "not_found");
    let got = raw(&app, "PATCH", "/healthz", &[], None).await;
    assert_envelope(&got, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    // The same query, once, is fine.
    let got = raw(&app, "GET", "/products?limit=1", &[], None).await;
    assert_eq!(got.0, StatusCode::OK, "{:?}", got.2);
}

/// Sends only the head of a POST announcing `length` body bytes; returns status and body.
async fn head_only_post(app: &TestApp, path: &str, auth: &str, length: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the whole body named by the answer's Content-Length is in.
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("no answer")
            .unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len || n == 0 {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, body.to_owned());
            }
        }
        assert!(n > 0, "connection closed before the answer");
    }
}

async fn cors_is_off_unless_origins_are_configured(app: TestApp) {
    let origin = [("origin", "https://shop.example")];
    let got = raw(&app, "GET", "/products", &origin, None).await;
    assert_eq!(got.0, StatusCode::OK);
    assert_eq!(header(&got.1, "access-control-allow-origin"), None);
}

async fn configured_origins_get_cors_answers(app: TestApp) {
    let app = app
        .restart_with(|s| {
            s.http.cors_origins = vec![
                "https://shop.example".into(),
                "http://localhost:5173".into(),
            ];
        })
        .await;
    let product = app.create_product(json!({"stock": 1})).await["id"]
        .as_i64()
        .unwrap();
    let preflight = [
        ("origin", "https://shop.example"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        ),
    ];
    let path = format!("/products/{product}/orders");
    let got = raw(&app, "OPTIONS", &path, &preflight, None).await;
    assert_eq!(got.0, StatusCode::OK, "{:?}", got.2);
    assert_eq!(
        header(&got.1, "access-control-allow-origin"),
        Some("https://shop.example")
    );
    let methods = header(&got.1, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = header(&got.1, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for h in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(h), "{h} not in {allowed}");
    }
    assert_eq!(header(&got.1, "access-control-allow-credentials"), None);

    let from = [("origin", "http://localhost:5173")];
    let got = raw(&app, "GET", "/products", &from, None).await;
    assert_eq!(got.0, StatusCode::OK);
    assert_eq!(
        header(&got.1, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    let exposed = header(&got.1, "access-control-expose-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("location"),
        "{exposed}"
    );

    let from = [("origin", "https://elsewhere.example")];
    let got = raw(&app, "GET", "/products", &from, None).await;
    assert_eq!(got.0, StatusCode::OK);
    assert_eq!(header(&got.1, "access-control-allow-origin"), None);
}

/// The binary logs one `info` line per request with its id, method, route template, status
/// and duration, and never the query string; a bad CORS origin is refused at start.
#[tokio::test]
async fn the_access_log_has_one_line_per_request_with_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let secret = "access-log-test-secret-0123456789abcdef";
    let mut served = ServedBinary::start(&[
        ("DROPLINE_DATABASE_URL", &url),
        ("DROPLINE_JWT_SECRET", secret),
    ])
    .await;
    let addr = served.addr.clone();
    let client = reqwest::Client::new();
    let resp = client
        .get(format!("http://{addr}/products/12345?secret=hunter2"))
        .header("x-request-id", "trace-abc-1")
        .header("authorization", "Bearer not-a-token-of-ours")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let line = served.line_with("trace-abc-1").await;
    for part in [
        "INFO",
        "request answered",
        "method=GET",
        "route=/products/{id}",
        "status=404",
        "duration_ms=",
        "request_id=trace-abc-1",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    for hidden in ["hunter2", "secret", "not-a-token-of-ours", "12345"] {
        assert!(!line.contains(hidden), "{hidden} logged: {line}");
    }
    let _ = served.child.kill().await;

    let out = Command::new(env!("CARGO_BIN_EXE_dropline"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DROPLINE_DATABASE_URL", &url)
        .env(
            "DROPLINE_JWT_SECRET",
            "access-log-test-secret-0123456789abcdef",
        )
        .env(
            "DROPLINE_CORS_ORIGINS",
            "https://ok.example,shop.example/path",
        )
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("`shop.example/path` is not an origin"),
        "{stderr}"
    );
}
