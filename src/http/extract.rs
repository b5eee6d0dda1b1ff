//! Extractors that turn rejections into the error envelope: JSON bodies, path ids, tokens.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::auth::{Principal, TokenKeys};
use crate::domain::ValidationError;
use crate::domain::ids::{BrandId, UserId};
use crate::state::AppState;

/// A JSON body: syntax or content-type trouble is 400, a wrong value is 422.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::Validation(ValidationError::new(
                    "body",
                    e.body_text().replace(
                        "Failed to deserialize the JSON body into the target type: ",
                        "",
                    ),
                )))
            }
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge)
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}

/// A JSON body that may be absent (no content at all), for endpoints whose body is optional.
pub struct OptionalBody<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let empty = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0")
            || (!req.headers().contains_key(axum::http::header::CONTENT_TYPE)
                && !req
                    .headers()
                    .contains_key(axum::http::header::CONTENT_LENGTH)
                && !req
                    .headers()
                    .contains_key(axum::http::header::TRANSFER_ENCODING));
        if empty {
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
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(ApiError::Unauthorized)?;
        keys.verify(token.trim()).map(Caller).map_err(|e| {
            tracing::debug!(error = %e, "token refused");
            ApiError::Unauthorized
        })
    }
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

/// Parses a path id; anything that is not a positive integer names nothing, so it is a 404.
pub fn path_id<T: TryFrom<i64>>(raw: &str, what: &'static str) -> Result<T, ApiError> {
    raw.parse::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or(ApiError::NotFound(what))
}
