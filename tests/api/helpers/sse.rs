//! Server-sent event streams read event by event: the admin's round events and a buyer's
//! waiting-room standing.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

use super::TestApp;

/// An open event stream, read event by event.
pub struct EventStream {
    resp: reqwest::Response,
    buf: String,
}

impl EventStream {
    /// Opens `/admin/events` with an admin token and waits for its `ready` event (nothing
    /// later is missed).
    pub async fn open(app: &TestApp) -> Self {
        let mut stream = Self::at(app, &format!("/admin/events?token={}", app.admin())).await;
        assert_eq!(stream.next().await.0, "ready");
        stream
    }

    /// Opens the stream at `path_and_query` (a 200 of type text/event-stream).
    pub async fn at(app: &TestApp, path_and_query: &str) -> Self {
        let resp = app
            .client
            .get(format!("{}{path_and_query}", app.addr))
            .send()
            .await
            .expect("events");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Self::from_response(resp)
    }

    /// Reads an answer already known to be a stream.
    pub fn from_response(resp: reqwest::Response) -> Self {
        Self {
            resp,
            buf: String::new(),
        }
    }

    /// Reads to the end of the stream, which must come cleanly within 10 s (`what` says so).
    pub async fn ends_within_10_s(&mut self, what: &str) {
        let end = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.resp.chunk().await {
                    Ok(Some(_)) => continue,
                    other => return other.map(|_| ()),
                }
            }
        })
        .await
        .expect(what);
        assert!(end.is_ok(), "{end:?}");
    }

    /// The next event's name and data (30 s at most).
    pub async fn next(&mut self) -> (String, Value) {
        self.next_within(Duration::from_secs(30))
            .await
            .expect("an event within 30 s")
    }

    /// The next event's name and data, or None when none comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).expect("json data")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("read")
                .expect("the stream stays open");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("utf-8"));
        }
    }

    /// The next `standing` event's data, skipping heartbeats (30 s at most).
    pub async fn next_standing(&mut self) -> Value {
        loop {
            let (name, data) = self.next().await;
            if name == "standing" {
                return data;
            }
            assert_eq!(name, "heartbeat", "{data}");
        }
    }
}
