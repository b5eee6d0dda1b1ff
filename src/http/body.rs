//! Reading a request body into memory: every frame is copied into one buffer and dropped at
//! once, so what a body holds is its bytes (at most twice its length while the buffer
//! grows), however finely the client chunked it. Every body the handlers read comes here.

use axum::RequestExt;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::header::CONTENT_LENGTH;
use futures::StreamExt;
use std::error::Error;

use super::error::ApiError;
use super::serve::BodyTimedOut;

/// Most bytes reserved up front from a `Content-Length`; a longer body grows the buffer as it
/// arrives, so a length a client only claims costs nothing.
const FIRST_RESERVE: usize = 64 * 1024;

/// Bytes no body may pass whatever its route allows (the largest route limit).
const HARD_LIMIT: usize = IMPORT_BODY_LIMIT;

/// Largest import body: 100,000 ids of up to 19 digits, with separators and slack.
pub const IMPORT_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// The whole body of `req`, within its route's limit: over it is 413 `payload_too_large`, a
/// body that does not arrive in time is 408 `body_read_timeout`, and a broken one 400.
pub async fn read(req: Request) -> Result<Bytes, ApiError> {
    let hint = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut stream = req.into_limited_body().into_data_stream();
    let mut buf = Vec::with_capacity(hint.min(FIRST_RESERVE));
    while let Some(frame) = stream.next().await {
        let data = frame.map_err(|e| refusal(&e))?;
        if buf.len() + data.len() > HARD_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        // The frame (and whatever buffer of the connection it points into) goes here.
        buf.extend_from_slice(&data);
    }
    Ok(Bytes::from(buf))
}

/// What a failed body read answers.
fn refusal(e: &axum::Error) -> ApiError {
    if caused_by::<http_body_util::LengthLimitError>(e) {
        ApiError::PayloadTooLarge
    } else if caused_by::<BodyTimedOut>(e) {
        ApiError::BodyReadTimeout
    } else {
        ApiError::BadRequest(format!("failed to read the request body: {e}"))
    }
}

/// Whether `E` is `e` or among its sources.
fn caused_by<E: Error + 'static>(e: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(current) = cause {
        if current.is::<E>() {
            return true;
        }
        cause = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// One byte whose allocation counts itself among the `live` ones until dropped.
    struct Counted(Arc<AtomicUsize>);

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            b"7"
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn frames_are_let_go_as_soon_as_they_are_copied() {
        let live = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (l, m) = (live.clone(), most.clone());
        let frames = futures::stream::iter(0..10_000).map(move |_| {
            let now = l.fetch_add(1, Ordering::Relaxed) + 1;
            m.fetch_max(now, Ordering::Relaxed);
            Ok::<_, std::convert::Infallible>(Bytes::from_owner(Counted(l.clone())))
        });
        let req = Request::new(axum::body::Body::from_stream(frames));
        let body = read(req).await.unwrap();
        assert_eq!(body.len(), 10_000);
        assert!(body.iter().all(|b| *b == b'7'));
        assert!(
            most.load(Ordering::Relaxed) <= 2,
            "{most:?} frames held at once"
        );
        assert_eq!(live.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_body_over_the_hard_limit_is_too_large() {
        let frames = futures::stream::iter(0..=HARD_LIMIT / 4096)
            .map(|_| Ok::<_, std::convert::Infallible>(Bytes::from(vec![b' '; 4096])));
        let req = Request::new(axum::body::Body::from_stream(frames));
        assert!(matches!(read(req).await, Err(ApiError::PayloadTooLarge)));
    }
}
