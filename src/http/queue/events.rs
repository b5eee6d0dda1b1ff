//! `GET /products/{id}/queue/events`: one's standing in a waiting room as server-sent events.
//! A `standing` event carries the answer of `GET /products/{id}/queue` each time it changes
//! (and once at the start); a `heartbeat` event comes every 15 s. Browsers' `EventSource`
//! cannot send headers, so the user's token may come as `?token=` (request spans record the
//! path only). A stream ends when its token expires or the server stops.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;
use utoipa::IntoParams;

use super::StandingView;
use crate::auth::Principal;
use crate::domain::ids::UserId;
use crate::domain::product::Product;
use crate::http::access::load;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::bearer_token;
use crate::http::schemas::{ErrorBody, NeedsToken, UnknownId};
use crate::shop;
use crate::shop::queue::Standing;
use crate::shop::queue::live::Room;
use crate::state::AppState;

/// How often the standing is looked at again for changes that come with time alone (the
/// sale's start, an admission's end).
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// Looks between two heartbeats (15 s).
const HEARTBEAT_EVERY: u32 = 15;

/// The query of the event stream.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueEventsQuery {
    /// The user's token, for clients that cannot send the Authorization header.
    token: Option<String>,
}

/// The user a token speaks for and how long it has left.
fn user_of(
    state: &AppState,
    headers: &HeaderMap,
    q: &QueueEventsQuery,
) -> ApiResult<(UserId, Duration)> {
    let token = bearer_token(headers)
        .or(q.token.as_deref())
        .ok_or(ApiError::Unauthorized)?;
    match state.keys.verify_until(token.trim()) {
        Ok((Principal::User(user), exp)) => Ok((
            user,
            UNIX_EPOCH
                .checked_add(Duration::from_secs(exp))
                .and_then(|end| end.duration_since(SystemTime::now()).ok())
                .unwrap_or(Duration::ZERO),
        )),
        Ok(_) => Err(ApiError::Forbidden),
        Err(_) => Err(ApiError::Unauthorized),
    }
}

/// What one stream looks at.
struct Watching {
    state: AppState,
    product: Product,
    user: UserId,
    room: watch::Receiver<Arc<Room>>,
    ticks: tokio::time::Interval,
    last: Option<Standing>,
    quiet: u32,
}

impl Watching {
    fn standing(&self) -> Option<Standing> {
        self.room.borrow().standing(
            self.user,
            self.product.sale_starts_at,
            self.product.per_user_limit,
            self.state.clock.now(),
        )
    }

    /// The next event: the standing once it differs from the last one sent, or a heartbeat.
    async fn next(mut self) -> Option<(Event, Self)> {
        loop {
            if let Some(now) = self.standing().filter(|s| self.last.as_ref() != Some(s)) {
                let event = Event::default()
                    .event("standing")
                    .json_data(StandingView::from(now.clone()))
                    .ok()?;
                self.last = Some(now);
                self.quiet = 0;
                return Some((event, self));
            }
            tokio::select! {
                changed = self.room.changed() => changed.ok()?,
                _ = self.ticks.tick() => {
                    self.quiet += 1;
                    if self.quiet >= HEARTBEAT_EVERY {
                        self.quiet = 0;
                        return Some((Event::default().event("heartbeat").data("{}"), self));
                    }
                }
            }
        }
    }
}

/// Streams one's standing in the product's waiting room (user): a `standing` event with a
/// `QueueStanding` JSON object at the start and at each change, a `heartbeat` every 15 s.
#[utoipa::path(get, path = "/products/{id}/queue/events", operation_id = "streamQueueStanding", tag = "queue",
    params(("id" = i64, Path, description = "Product id"), QueueEventsQuery), security(("bearer" = [])),
    responses((status = 200, description = "A text/event-stream of `standing` events (data: a QueueStanding JSON object) and `heartbeat` events",
        content_type = "text/event-stream", body = String),
        (status = 404, description = "Unknown product, or the caller is not in its room", body = ErrorBody),
        (status = 422, description = "`not_queued`: the product has no waiting room", body = ErrorBody),
        NeedsToken, UnknownId))]
pub(super) async fn stream(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<QueueEventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (user, valid_for) = user_of(&state, &headers, &q)?;
    let product = load(&state, &id).await?;
    let room = shop::queue::watch(&state.shop(), &product, user).await?;
    let closed = state.events.closed();
    let mut ticks = tokio::time::interval(LOOK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watching = Watching {
        state,
        product,
        user,
        room,
        ticks,
        last: None,
        quiet: 0,
    };
    let events = futures::stream::unfold(watching, Watching::next)
        .map(Ok)
        .take_until(closed.cancelled_owned())
        .take_until(tokio::time::sleep(valid_for));
    Ok(Sse::new(events))
}
