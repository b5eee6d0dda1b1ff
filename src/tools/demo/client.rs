//! The demo's HTTP client of its own server, acting as an admin whose token it mints.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

use crate::auth::Principal;

/// A client of the demo's own server.
pub(crate) struct Client {
    base: String,
    http: reqwest::Client,
    /// The admin token the demo acts with.
    pub(super) admin: String,
}

impl Client {
    /// A client of the server at `base`, acting as an admin whose token it mints.
    pub(super) fn new(base: &str, state: &crate::state::AppState) -> anyhow::Result<Self> {
        let admin = state
            .keys
            .mint(Principal::Admin, Duration::from_secs(3600))
            .context("Failed to mint the demo's admin token")?;
        Ok(Self {
            base: base.to_owned(),
            http: reqwest::Client::new(),
            admin,
        })
    }

    /// Sends `body` (if any) to `path` with `token`; answers the status and the JSON body
    /// (null when it is not JSON).
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("Failed to call {path}"))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Posts `body` to `path` as the admin; anything but `want` is an error.
    pub(crate) async fn admin_post(
        &self,
        path: &str,
        body: Value,
        want: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, body) = self
            .send(reqwest::Method::POST, path, &self.admin, Some(body))
            .await?;
        if status != want {
            bail!("{path} answered {status}: {body}");
        }
        Ok(body)
    }
}
