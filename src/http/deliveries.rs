//! The delivery log over HTTP: a round's attempts (admin or an owning brand) and every
//! attempt at one notification (admin).

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::{load_managed, round_number};
use super::error::{ApiError, ApiResult};
use super::extract::Caller;
use super::schemas::page_schema;
use super::schemas::{ErrorBody, Invalid, NeedsToken, UnknownId};
use crate::domain::ValidationError;
use crate::domain::delivery::{DeliveryKind, DeliveryOutcome, DeliveryRecord};
use crate::domain::ids::{ProductId, UserId};
use crate::domain::page::{Page, PageRequest};
use crate::domain::round::RoundRef;
use crate::state::AppState;
use crate::store::deliveries::RoundDeliveries;

/// Routes of this resource.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/products/{id}/rounds/{round}/deliveries",
            get(of_round),
        )
        .route("/admin/deliveries/{webhook_id}", get(of_notification))
        .route("/admin/deliveries/{webhook_id}/replay", post(replay))
}

/// One attempt at a notification.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeliveryAttempt, example = json!({"id": 17, "webhook_id": "3-1-42", "attempt": 2,
    "kind": "restock", "product_id": 3, "round": 1, "user_id": 42, "outcome": "delivered",
    "sent_by": "engine", "http_status": 200, "error": null,
    "started_at": "2026-12-14T10:00:01Z", "answered_at": "2026-12-14T10:00:01.042Z",
    "latency_ms": 42}))]
pub struct DeliveryView {
    /// The attempt's key in the log (the cursor of pages).
    id: i64,
    /// The notification's `webhook-id`, the same on every attempt.
    webhook_id: String,
    /// 1-based among the attempts at this notification.
    attempt: i64,
    kind: DeliveryKind,
    #[schema(value_type = i64)]
    product_id: ProductId,
    /// Null for a draw's win.
    #[schema(required = true)]
    round: Option<i64>,
    #[schema(value_type = i64)]
    user_id: UserId,
    /// `delivered` (2xx), `pending` (failed, another attempt follows), `failed` (failed and
    /// the last: the round ended `CANCELED_BY_ERROR`), `expired` (a claim alert never sent
    /// because its claim had expired).
    outcome: DeliveryOutcome,
    /// `engine`, `probe` (automatic resume) or `replay` (an operator's).
    sent_by: String,
    /// The receiver's status, when it answered over HTTP.
    #[schema(required = true)]
    http_status: Option<u16>,
    /// The receiver's status or the transport error, when it failed.
    #[schema(required = true)]
    error: Option<String>,
    started_at: DateTime<Utc>,
    answered_at: DateTime<Utc>,
    latency_ms: i64,
}

impl From<DeliveryRecord> for DeliveryView {
    fn from(r: DeliveryRecord) -> Self {
        let latency_ms = r.attempt_of.latency_ms();
        let a = r.attempt_of;
        Self {
            id: r.id,
            webhook_id: a.webhook_id,
            attempt: r.attempt,
            kind: a.kind,
            product_id: a.product_id,
            round: a.round,
            user_id: a.user_id,
            outcome: a.outcome,
            sent_by: a.sender.as_str().to_owned(),
            http_status: a.http_status,
            error: a.error,
            started_at: a.started_at,
            answered_at: a.answered_at,
            latency_ms,
        }
    }
}

/// The raw `?outcome=&cursor=&limit=` of a round's attempts.
#[derive(Debug, Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only attempts that ended this way: delivered, failed, pending or expired.
    outcome: Option<String>,
    /// The `next` cursor of the previous page.
    cursor: Option<String>,
    /// The same as `cursor` (the name the other lists use).
    after: Option<String>,
    /// Page size, 1..=1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

impl DeliveryQuery {
    fn parse(&self) -> ApiResult<(Option<DeliveryOutcome>, PageRequest)> {
        let outcome = match self.outcome.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(DeliveryOutcome::try_from(raw)?),
        };
        let limit = match self.limit.as_deref() {
            None => None,
            Some(raw) => Some(
                raw.parse::<i64>()
                    .map_err(|_| ValidationError::new("limit", "must be between 1 and 1000"))?,
            ),
        };
        let cursor = self.cursor.as_deref().or(self.after.as_deref());
        let page = PageRequest::parse(limit, cursor)
            .map_err(|_| ValidationError::new("cursor", "is not a valid cursor"))?;
        Ok((outcome, page))
    }
}

/// A round's delivery attempts, in the order recorded (admin or an owning brand).
#[utoipa::path(get, path = "/admin/products/{id}/rounds/{round}/deliveries", operation_id = "listRoundDeliveries", tag = "rounds",
    params(("id" = i64, Path, description = "Product id"), ("round" = i64, Path, description = "Round number"), DeliveryQuery),
    security(("bearer" = [])),
    responses((status = 200, description = "A page of attempts", body = DeliveryPage),
        NeedsToken, UnknownId, Invalid))]
async fn of_round(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, round)): Path<(String, String)>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Page<DeliveryView>>> {
    let product = load_managed(&state, &caller, &id).await?;
    let at = RoundRef {
        product: product.id,
        round: round_number(&round)?,
    };
    let (outcome, page) = q.parse()?;
    let shop = state.shop();
    crate::shop::rounds::get(&shop, at)
        .await?
        .ok_or(ApiError::NotFound("round"))?;
    // What this instance sent so far is readable at once.
    state.notifier.flush_deliveries().await;
    let which = RoundDeliveries {
        product: at.product,
        round: at.round,
        outcome,
    };
    let page = crate::shop::deliveries::of_round(&shop, which, &page).await?;
    Ok(Json(page.map(DeliveryView::from)))
}

/// Every attempt at one notification, first to last (admin).
#[utoipa::path(get, path = "/admin/deliveries/{webhook_id}", operation_id = "getDelivery", tag = "rounds",
    params(("webhook_id" = String, Path, description = "The notification's webhook-id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Its attempts", body = DeliveryAttempts),
        NeedsToken, UnknownId))]
async fn of_notification(
    State(state): State<AppState>,
    caller: Caller,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<DeliveryAttempts>> {
    caller.require_admin()?;
    state.notifier.flush_deliveries().await;
    let attempts = crate::shop::deliveries::of_notification(&state.shop(), &webhook_id).await?;
    if attempts.is_empty() {
        return Err(ApiError::NotFound("delivery"));
    }
    Ok(Json(DeliveryAttempts::new(webhook_id, attempts)))
}

/// Sends one notification again (admin): the same webhook-id and body with a fresh
/// `sent_at`, timestamp and signature, through the global rate limit; answers every attempt
/// at it, the replay last. A claim alert is sent again only while its claim is open.
#[utoipa::path(post, path = "/admin/deliveries/{webhook_id}/replay", operation_id = "replayDelivery", tag = "rounds",
    params(("webhook_id" = String, Path, description = "The notification's webhook-id")),
    security(("bearer" = [])),
    responses((status = 200, description = "Sent again (see the last attempt's outcome)", body = DeliveryAttempts),
        (status = 409, description = "`not_replayable`: the claim the alert announced is no longer open", body = ErrorBody),
        NeedsToken, UnknownId))]
async fn replay(
    State(state): State<AppState>,
    caller: Caller,
    Path(webhook_id): Path<String>,
) -> ApiResult<Json<DeliveryAttempts>> {
    caller.require_admin()?;
    state.notifier.flush_deliveries().await;
    let shop = state.shop();
    let attempts = crate::shop::deliveries::of_notification(&shop, &webhook_id).await?;
    let last = attempts.last().ok_or(ApiError::NotFound("delivery"))?;
    // Sent and logged on a task of its own: a client that goes away mid-send leaves the
    // attempt to finish and be logged.
    let (notifier, last) = (state.notifier.clone(), last.attempt_of.clone());
    state
        .tasks
        .spawn(async move { notifier.replay(&last).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the replay stopped: {e}")))??;
    let attempts = crate::shop::deliveries::of_notification(&shop, &webhook_id).await?;
    Ok(Json(DeliveryAttempts::new(webhook_id, attempts)))
}

/// Every attempt at one notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryAttempts {
    /// The notification's `webhook-id`.
    webhook_id: String,
    /// Its attempts, first to last.
    attempts: Vec<DeliveryView>,
}

impl DeliveryAttempts {
    fn new(webhook_id: String, attempts: Vec<DeliveryRecord>) -> Self {
        Self {
            webhook_id,
            attempts: attempts.into_iter().map(DeliveryView::from).collect(),
        }
    }
}

page_schema!(DeliveryPage, DeliveryView);
