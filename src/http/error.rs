//! The one error type of the HTTP edge and its JSON envelope.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Conflict, ValidationError};
use crate::shop::products::ProductError;
use crate::store::StoreError;

/// Everything a handler can answer with other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, a wrong content type, a bad header.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or a token that does not verify.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// A valid token without the right.
    #[error("this token does not allow that")]
    Forbidden,
    /// An order on a queued product without an open admission.
    #[error("an open admission from the waiting room is required to order this product")]
    AdmissionRequired,
    /// A waiting-room request on a product without a waiting room.
    #[error("this product has no waiting room")]
    NotQueued,
    /// Unknown id or route.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not with this method.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// A well-formed request with an invalid value.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The state of things refuses the request.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The body is larger than this endpoint accepts.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The client did not send the whole body within the body read timeout.
    #[error("the request body did not arrive in time")]
    BodyReadTimeout,
    /// A dependency (the database) does not answer.
    #[error("the service is not ready")]
    Unavailable,
    /// Concurrent writes kept the database from committing this one; nothing was written and
    /// the same request may be sent again (503 `unavailable` with `Retry-After`).
    #[error("the database is busy with concurrent changes; nothing was changed, try again")]
    Busy,
    /// A fault of the server; the cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Self::AdmissionRequired => (StatusCode::FORBIDDEN, "admission_required"),
            Self::NotQueued => (StatusCode::UNPROCESSABLE_ENTITY, "not_queued"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            Self::Conflict(c) => (StatusCode::CONFLICT, c.code()),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::BodyReadTimeout => (StatusCode::REQUEST_TIMEOUT, "body_read_timeout"),
            Self::Unavailable | Self::Busy => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("resource"),
            StoreError::Invalid(v) => Self::Validation(v),
            StoreError::Conflict(c) => Self::Conflict(c),
            StoreError::Contended(_) => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

/// The error envelope every non-2xx answer carries: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "not_found", "message": "product not found"}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of the error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A snake_case code clients match on, e.g. `validation_failed`, `sold_out`.
    #[schema(example = "sold_out")]
    pub code: String,
    /// A human sentence; for `validation_failed` it names the field.
    #[schema(example = "the product is sold out")]
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                "the server could not complete the request".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = envelope(status, code, message);
        if matches!(self, Self::Busy) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

/// An error answer: `status` with the envelope around `code` and `message`.
pub fn envelope(status: StatusCode, code: &str, message: String) -> Response {
    let body = Json(ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    });
    (status, body).into_response()
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::Store(s) => s.into(),
            ProductError::Seed(s) => Self::Internal(s.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_that_kept_losing_lock_races_answers_503_with_retry_after() {
        let response = ApiError::from(StoreError::Contended("pay")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers().get(axum::http::header::RETRY_AFTER),
            Some(&axum::http::HeaderValue::from_static("1"))
        );
    }

    #[test]
    fn a_store_fault_answers_500_like_a_database_failure() {
        let response = ApiError::from(StoreError::Internal("lost")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
