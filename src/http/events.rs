//! `GET /admin/events`: live round progress as server-sent events, for the dashboard.
//!
//! Browsers' `EventSource` cannot send headers, so the admin token may come as `?token=`
//! (it is never logged: request spans record the path only) or as the usual bearer header.
//! A stream ends when that token expires.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use super::extract::bearer_token;
use super::schemas::NeedsToken;
use crate::auth::Principal;
use crate::state::AppState;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new().route("/admin/events", get(stream))
}

/// The query of the event stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// An admin token, for clients that cannot send the Authorization header.
    token: Option<String>,
}

/// Checks the caller is an admin; answers how long its token has left.
fn admin(state: &AppState, headers: &HeaderMap, q: &EventsQuery) -> ApiResult<Duration> {
    let token = bearer_token(headers)
        .or(q.token.as_deref())
        .ok_or(ApiError::Unauthorized)?;
    match state.keys.verify_until(token.trim()) {
        Ok((Principal::Admin, exp)) => Ok(UNIX_EPOCH
            .checked_add(Duration::from_secs(exp))
            .and_then(|end| end.duration_since(SystemTime::now()).ok())
            .unwrap_or(Duration::ZERO)),
        Ok(_) => Err(ApiError::Forbidden),
        Err(_) => Err(ApiError::Unauthorized),
    }
}

/// Streams `round` events (JSON `RoundProgress`) as rounds run here; ends when the server
/// stops or when the token it was opened with expires.
#[utoipa::path(get, path = "/admin/events", operation_id = "streamRoundEvents", tag = "rounds", params(EventsQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A text/event-stream of `round` events whose data is a RoundProgress JSON object",
        content_type = "text/event-stream", body = String),
        NeedsToken))]
async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let valid_for = admin(&state, &headers, &q)?;
    let closed = state.events.closed();
    let events = BroadcastStream::new(state.events.subscribe())
        // A reader that fell behind skips what it missed; the next event has the totals.
        .filter_map(|e| async move { e.ok() })
        .filter_map(
            |progress| async move { Event::default().event("round").json_data(progress).ok() },
        )
        .map(Ok)
        .take_until(closed.cancelled_owned());
    let hello = futures::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    // A token's rights end at its expiry, also for a stream opened while it was valid.
    let stream = hello
        .chain(events)
        .take_until(tokio::time::sleep(valid_for));
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
