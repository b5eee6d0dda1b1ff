//! Cross-origin requests from browsers, allowed only for the origins an operator lists.

use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method};
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::middleware::REQUEST_ID;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for `origins` (`scheme://host[:port]` each, or `*` for any), or None when
/// the list is empty: then no CORS headers are sent and browsers keep their same-origin rule.
/// Tokens travel in `Authorization`, never in cookies, so credentials are never allowed.
pub fn layer(origins: &[String]) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<&str> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.contains(&"*") {
        anyhow::ensure!(
            origins.len() == 1,
            "DROPLINE_CORS_ORIGINS: `*` allows every origin and cannot be listed with others"
        );
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            values.push(parse_origin(origin)?);
        }
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                AUTHORIZATION,
                CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                REQUEST_ID,
            ])
            .expose_headers([REQUEST_ID, LOCATION, RETRY_AFTER])
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

/// An origin as browsers send it: `http` or `https`, a host, perhaps a port, nothing else.
fn parse_origin(origin: &str) -> anyhow::Result<HeaderValue> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = rest.is_some_and(|host| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    });
    anyhow::ensure!(
        valid,
        "DROPLINE_CORS_ORIGINS: `{origin}` is not an origin (scheme://host[:port], no path)"
    );
    Ok(HeaderValue::from_str(origin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn origins_are_checked_at_start() {
        assert!(layer(&[]).unwrap().is_none());
        assert!(layer(&list(&[" "])).unwrap().is_none());
        assert!(layer(&list(&["*"])).unwrap().is_some());
        assert!(
            layer(&list(&["https://shop.example", "http://localhost:5173"]))
                .unwrap()
                .is_some()
        );
        for bad in [
            "shop.example",
            "https://shop.example/",
            "ftp://x",
            "https://",
            "*",
        ] {
            let with_other = list(&[bad, "https://ok.example"]);
            assert!(layer(&with_other).is_err(), "{bad}");
        }
    }
}
