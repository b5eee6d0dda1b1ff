//! The edge every request passes first and every answer passes last: the request's id, the
//! conventions every answer keeps whatever layer made it (the error envelope,
//! `WWW-Authenticate` on 401), the request metrics and the one access-log line.

use axum::extract::{MatchedPath, Request};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use std::collections::HashSet;
use std::time::Instant;
use tracing::Instrument;

use super::error::{ApiError, envelope};
use crate::telemetry::metrics;

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest request id a client may choose.
const MAX_ID_LEN: usize = 128;

/// Route label for requests that matched no route, so unknown paths cannot grow label sets.
const UNMATCHED: &str = "unmatched";

/// Most bytes of a non-envelope error body read to carry its sentence over.
const MAX_LAYER_MESSAGE: usize = 1024;

/// Names the request, refuses a malformed URI, and makes every answer keep the conventions.
pub async fn edge(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(req.headers());
    req.headers_mut().insert(REQUEST_ID, id.clone());
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, |p| p.as_str())
        .to_owned();
    let id_text = id.to_str().unwrap_or("-").to_owned();
    let span =
        tracing::info_span!("request", method = %method, route = %route, request_id = %id_text);
    let response = match malformed(req.uri()) {
        Some(refusal) => refusal.into_response(),
        None => next.run(req).instrument(span.clone()).await,
    };
    let mut response = span.in_scope(|| as_envelope(response)).await;
    let status = response.status();
    let headers = response.headers_mut();
    headers.insert(REQUEST_ID, id);
    if status == StatusCode::UNAUTHORIZED && !headers.contains_key(WWW_AUTHENTICATE) {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    let elapsed = started.elapsed();
    metrics::http_request(method.as_str(), &route, status.as_u16(), elapsed);
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "request answered"
        );
    });
    response
}

/// The client's own id when it is 1..=128 visible ASCII characters, otherwise a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&REQUEST_ID)
        .filter(|v| is_acceptable_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id)
}

fn is_acceptable_id(raw: &[u8]) -> bool {
    (1..=MAX_ID_LEN).contains(&raw.len()) && raw.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A new request id: 32 hex digits.
pub(crate) fn new_request_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::rng().random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Hex digits are always a valid header value.
    HeaderValue::from_str(&hex).unwrap_or_else(|_| HeaderValue::from_static("-"))
}

/// A refusal for a path that does not decode to UTF-8, or a query with a malformed escape,
/// a name or value that is not UTF-8, or a parameter given twice.
fn malformed(uri: &Uri) -> Option<ApiError> {
    let path_ok = percent_decode(uri.path().as_bytes(), false)
        .is_some_and(|bytes| String::from_utf8(bytes).is_ok());
    if !path_ok {
        return Some(ApiError::BadRequest(
            "the path is not valid percent-encoded UTF-8".into(),
        ));
    }
    let query = uri.query()?;
    let mut seen = HashSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| {
            percent_decode(raw.as_bytes(), true).and_then(|b| String::from_utf8(b).ok())
        };
        let (Some(name), Some(_)) = (decode(name), decode(value)) else {
            return Some(ApiError::BadRequest(
                "the query string is not valid percent-encoded UTF-8".into(),
            ));
        };
        if !seen.insert(name.clone()) {
            return Some(ApiError::BadRequest(format!(
                "the query parameter `{name}` is given more than once"
            )));
        }
    }
    None
}

/// Decodes `%XX` escapes (and `+` as a space in a query); None on a broken escape.
fn percent_decode(raw: &[u8], plus_is_space: bool) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hi = hex_value(*raw.get(i + 1)?)?;
                let lo = hex_value(*raw.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An error answer some layer made without the envelope (a rejection's plain text, the body
/// limit's 413) gets it, keeping its status; every other answer passes unchanged.
async fn as_envelope(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_LAYER_MESSAGE)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let mut rebuilt = layer_error(status, text).into_response();
    // Headers the layer set (Allow, Retry-After, ...) stay; the body and its type are new.
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}

/// The envelope for an error a layer answered with `status` and, perhaps, a sentence.
fn layer_error(status: StatusCode, text: Option<String>) -> Response {
    match status {
        StatusCode::BAD_REQUEST => {
            ApiError::BadRequest(text.unwrap_or_else(|| "the request is malformed".into()))
                .into_response()
        }
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized.into_response(),
        StatusCode::FORBIDDEN => ApiError::Forbidden.into_response(),
        StatusCode::NOT_FOUND => ApiError::NotFound("route").into_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable.into_response(),
        s if s.is_server_error() => {
            ApiError::Internal(text.unwrap_or_else(|| s.to_string())).into_response()
        }
        s => {
            let reason = s.canonical_reason().unwrap_or("the request was refused");
            let code = reason.to_ascii_lowercase().replace([' ', '-'], "_");
            envelope(s, &code, text.unwrap_or_else(|| reason.to_owned()))
        }
    }
}

/// A body the edge can stand in for, for tests of the mapping.
#[cfg(test)]
fn plain(status: StatusCode, text: &str) -> Response {
    let mut r = Response::new(axum::body::Body::from(text.to_owned()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_id_is_kept_only_when_it_is_short_visible_ascii() {
        assert!(is_acceptable_id(b"abc-123_XYZ.~"));
        assert!(is_acceptable_id(&[b'a'; 128]));
        assert!(!is_acceptable_id(&[b'a'; 129]));
        assert!(!is_acceptable_id(b""));
        assert!(!is_acceptable_id(b"has space"));
        assert!(!is_acceptable_id("caf\u{e9}".as_bytes()));
    }

    #[test]
    fn new_ids_are_32_hex_digits_and_differ() {
        let a = new_request_id();
        let b = new_request_id();
        assert_eq!(a.len(), 32);
        assert!(a.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_uris_are_named() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert!(malformed(&uri("/products/1?limit=5&after=x")).is_none());
        assert!(malformed(&uri("/products/caf%C3%A9")).is_none());
        assert!(malformed(&uri("/products?a=1&&b=%20")).is_none());
        assert!(malformed(&uri("/products/%FF")).is_some());
        assert!(malformed(&uri("/products/%Z1")).is_some());
        assert!(malformed(&uri("/products?limit=1&limit=2")).is_some());
        assert!(malformed(&uri("/products?li%6Dit=1&limit=2")).is_some());
        assert!(malformed(&uri("/products?after=%FF")).is_some());
        assert!(malformed(&uri("/products?after=%4")).is_some());
    }

    #[tokio::test]
    async fn plain_errors_get_the_envelope_and_keep_their_status() {
        let r = as_envelope(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "length limit exceeded",
        ))
        .await;
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");
        let r = as_envelope(plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, "")).await;
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "unsupported_media_type");
        let ok = as_envelope(plain(StatusCode::OK, "fine")).await;
        let body = axum::body::to_bytes(ok.into_body(), 4096).await.unwrap();
        assert_eq!(&body[..], b"fine");
    }
}
