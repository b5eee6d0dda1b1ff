//! Requests to a test app: one call with status and JSON body, GET and POST, every page of a
//! list, and the error envelope check.

use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::net::TcpStream;

use super::TestApp;

impl TestApp {
    /// Sends a request; returns the status and the JSON body (Null when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{}", self.addr, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        read(req.send().await.expect("request")).await
    }

    /// `GET path` with an optional token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("GET", path, token, None).await
    }

    /// Every item of the list at `path` (which has no query yet), read as admin in pages of
    /// `limit`, following `next` to the last page.
    pub async fn every_item(&self, path: &str, limit: u32) -> Vec<Value> {
        let pages = self.every_page(path, limit).await;
        pages
            .iter()
            .flat_map(|page| page["items"].as_array().expect("items").iter().cloned())
            .collect()
    }

    /// Every page of the list at `path` (which has no query yet), read as admin in pages of
    /// `limit`, following `next` to the last page; each must answer 200.
    pub async fn every_page(&self, path: &str, limit: u32) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut page = format!("{path}?limit={limit}");
            if let Some(a) = &after {
                page.push_str(&format!("&after={a}"));
            }
            let (s, b) = self.get(&page, Some(&self.admin())).await;
            assert_eq!(s, StatusCode::OK, "{b}");
            let next = b["next"].as_str().map(str::to_owned);
            pages.push(b);
            match next {
                Some(n) => after = Some(n),
                None => return pages,
            }
        }
    }

    /// `POST path` with an optional token and a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, token, Some(body)).await
    }

    /// `POST path` with `token` and `body` sent as it is, under `content_type`.
    pub async fn post_raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: &'static str,
    ) -> (StatusCode, Value) {
        let req = self
            .client
            .post(format!("{}{path}", self.addr))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body);
        read(req.send().await.expect("request")).await
    }

    /// `GET path` with `authorization` as the whole Authorization header.
    pub async fn get_authorized(&self, path: &str, authorization: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.addr))
            .header("authorization", authorization)
            .send()
            .await
            .expect("request")
    }

    /// `PATCH path` with an optional token and a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", path, token, Some(body)).await
    }

    /// `PUT path` with an optional token and no body.
    pub async fn put(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call("PUT", path, token, None).await
    }
}

/// Asserts an error envelope with `status` and `code`; returns the message.
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) -> String {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["error"]["code"], code, "body: {}", got.1);
    got.1["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

/// The status and JSON body of an answer (Null when empty, the text when not JSON).
pub async fn read(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// `body` with every field of `extra` set over it.
pub fn merged(mut body: Value, extra: &Value) -> Value {
    if let (Some(obj), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    body
}

/// Asserts a 422 `validation_failed` whose message names `field`.
pub fn assert_invalid(got: &(StatusCode, Value), field: &str) {
    let message = assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(message.contains(field), "{message} does not name {field}");
}

/// The `field` of every item of a list page, as numbers.
pub fn item_ids(page: &Value, field: &str) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item[field].as_i64().expect("a number"))
        .collect()
}

/// Counts answers by status and error code ("201", "409 sold_out", ...).
pub fn tally(answers: &[(StatusCode, Value)]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (s, b) in answers {
        let key = match b["error"]["code"].as_str() {
            Some(code) => format!("{} {code}", s.as_u16()),
            None => s.as_u16().to_string(),
        };
        *counts.entry(key).or_default() += 1;
    }
    counts
}

/// A fresh TCP connection to `app`, for requests written byte by byte.
pub async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr.trim_start_matches("http://"))
        .await
        .expect("connect")
}
