//! Extractors that turn rejections into the error envelope: JSON bodies, path ids, tokens.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, MissingJsonContentType, QueryRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use std::convert::Infallible;

use super::error::ApiError;
use crate::auth::{Principal, TokenKeys};
use crate::domain::ValidationError;
use crate::domain::ids::{BrandId, OrderId, UserId};
use crate::state::AppState;

/// A JSON body: syntax or content-type trouble is 400, a wrong value is 422.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(json_rejection(MissingJsonContentType::default().into()));
        }
        let bytes = super::body::read(req).await?;
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(v)| Self(v))
            .map_err(json_rejection)
    }
}

/// The answer to a body axum could not turn into JSON of the wanted type.
fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::JsonDataError(e) => ApiError::Validation(ValidationError::new(
            "body",
            e.body_text().replace(
                "Failed to deserialize the JSON body into the target type: ",
                "",
            ),
        )),
        e => ApiError::BadRequest(e.body_text()),
    }
}

/// Whether a request comes with no body at all (no content, type or length).
fn has_no_body(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0")
        || (!headers.contains_key(CONTENT_TYPE)
            && !headers.contains_key(CONTENT_LENGTH)
            && !headers.contains_key(TRANSFER_ENCODING))
}

/// Whether the content type is JSON (`application/json` or `application/<name>+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
    else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence.split_once('/').is_some_and(|(kind, sub)| {
        kind == "application" && (sub == "json" || sub.ends_with("+json"))
    })
}

/// A JSON body read with the request but parsed only when the handler asks, once it has
/// checked the caller's rights: a caller without them hears 403, never what is wrong with a
/// body it may not send.
pub struct DeferredJson {
    read: Result<Bytes, ApiError>,
    json: bool,
    empty: bool,
}

impl<S> FromRequest<S> for DeferredJson
where
    S: Send + Sync,
{
    type Rejection = Infallible;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let empty = has_no_body(req.headers());
        let read = super::body::read(req).await;
        Ok(Self { read, json, empty })
    }
}

impl DeferredJson {
    /// The body as `T`: syntax or content-type trouble is 400, a wrong value is 422.
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        let bytes = self.read?;
        if !self.json {
            return Err(json_rejection(MissingJsonContentType::default().into()));
        }
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(v)| v)
            .map_err(json_rejection)
    }

    /// As [`DeferredJson::parse`], for endpoints whose body is optional: None without one.
    pub fn parse_optional<T: DeserializeOwned>(self) -> Result<Option<T>, ApiError> {
        if self.empty {
            return Ok(None);
        }
        self.parse().map(Some)
    }

    /// The body as any JSON value, when it is readable JSON; for the rights that depend on
    /// what the body asks for.
    pub fn peek(&self) -> Option<serde_json::Value> {
        let bytes = self.read.as_ref().ok().filter(|_| self.json)?;
        serde_json::from_slice(bytes).ok()
    }
}

/// A JSON body that may be absent (no content at all), for endpoints whose body is optional.
pub struct OptionalBody<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    Body<T>: FromRequest<S, Rejection = ApiError>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if has_no_body(req.headers()) {
            return Ok(Self(None));
        }
        let Body(v) = Body::<T>::from_request(req, state).await?;
        Ok(Self(Some(v)))
    }
}

/// The caller, from a verified bearer token.
pub struct Caller(pub Principal);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys: TokenKeys = AppState::from_ref(state).keys;
        let token = bearer_token(&parts.headers).ok_or(ApiError::Unauthorized)?;
        keys.verify(token).map(Caller).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            ApiError::Unauthorized
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is matched without
/// regard to case (RFC 7235), so `bearer` and `BEARER` do too.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl Caller {
    /// Admins only.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.0 {
            Principal::Admin => Ok(()),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// Users only: the user id the token speaks for.
    pub fn require_user(&self) -> Result<UserId, ApiError> {
        match self.0 {
            Principal::User(u) => Ok(u),
            _ => Err(ApiError::Forbidden),
        }
    }

    /// Admins, or a brand among `owners`.
    pub fn require_admin_or_brand(&self, owners: &[BrandId]) -> Result<(), ApiError> {
        match self.0 {
            Principal::Admin => Ok(()),
            Principal::Brand(b) if owners.contains(&b) => Ok(()),
            _ => Err(ApiError::Forbidden),
        }
    }
}

/// The order a path names (`/orders/{id}`), for endpoints without a body; anything but a
/// positive integer names no order (404).
pub struct OrderPath(pub OrderId);

impl<S> FromRequestParts<S> for OrderPath
where
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        path_id(&id, "order")
            .map(Self)
            .map_err(IntoResponse::into_response)
    }
}

/// A query string taken as a `Result`, so that the handler checks the caller's rights before
/// it answers 400 about the query.
pub fn query<T>(raw: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    raw.map(|Query(v)| v)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// Parses a path id; anything that is not a positive integer names nothing, so it is a 404.
pub fn path_id<T: TryFrom<i64>>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or(ApiError::NotFound(what))
}

/// Distinguishes an absent field (keep) from an explicit null (clear).
pub(crate) fn some_or_null<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
