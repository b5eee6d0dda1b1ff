//! The steps every demo story takes: the collaboration's brands, a product with its line, a
//! restock followed to the round's end, the stock left.

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

use super::client::Client;
use super::display::Bars;
use crate::domain::ids::ProductId;
use crate::domain::round::RoundStatus;
use crate::events::RoundProgress;
use crate::state::AppState;

/// How long the engine may take to answer for a round whose events stopped.
const SETTLE: Duration = Duration::from_secs(5);

/// The two brands of the collaboration; answers their ids.
pub(crate) async fn brands(client: &Client) -> anyhow::Result<Vec<Value>> {
    let mut brands = Vec::new();
    for (name, category) in [("Helinox", "camping"), ("Kith", "fashion")] {
        let brand = client
            .admin_post(
                "/brands",
                json!({"name": name, "category": category}),
                StatusCode::CREATED,
            )
            .await?;
        brands.push(brand["id"].clone());
    }
    Ok(brands)
}

/// A sold-out product of `brands` (plus the fields of `extra`) with users 100001 to
/// 100000 + `line` in its line, in that order; answers its id.
pub(crate) async fn product_with_line(
    client: &Client,
    brands: &[Value],
    name: &str,
    extra: Value,
    line: i64,
) -> anyhow::Result<i64> {
    let mut body = json!({"name": name, "brand_ids": brands,
                          "price": 189_000, "stock": 0, "per_user_limit": 1});
    if let (Some(fields), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        fields.extend(more.clone());
    }
    let product = client
        .admin_post("/products", body, StatusCode::CREATED)
        .await?;
    let product_id = product["id"].as_i64().context("the product has no id")?;
    let users: Vec<i64> = (1..=line).map(|i| 100_000 + i).collect();
    for chunk in users.chunks(50_000) {
        client
            .admin_post(
                &format!("/admin/products/{product_id}/subscriptions/import"),
                json!({ "user_ids": chunk }),
                StatusCode::OK,
            )
            .await?;
    }
    Ok(product_id)
}

/// Restocks `quantity` units and follows the round to its end with the bars; answers the
/// round's number and its last progress.
pub(crate) async fn restock_and_follow(
    client: &Client,
    state: &AppState,
    product_id: i64,
    quantity: i64,
    line: i64,
    timeout: Duration,
) -> anyhow::Result<(i64, RoundProgress)> {
    let mut events = state.events.subscribe();
    let round = client
        .admin_post(
            &format!("/products/{product_id}/notifications/re-stock"),
            json!({ "quantity": quantity }),
            StatusCode::ACCEPTED,
        )
        .await?;
    let round_no = round["round"].as_i64().context("the round has no number")?;
    let bars = Bars::new(line as u64, quantity as u64);
    let product = ProductId::from_db(product_id);
    let last = follow(&mut events, &bars, product, round_no, timeout).await;
    bars.finish();
    if let Some(last) = last {
        return Ok((round_no, last));
    }
    // The stream fell silent or the time is up: ask the engine, briefly.
    let settled = tokio::time::timeout(SETTLE, state.notifier.settle(product, round_no)).await;
    let r = match settled {
        Ok(r) => r?.context("the round disappeared")?,
        Err(_) => bail!("the round did not end within {timeout:?}"),
    };
    if r.status == RoundStatus::InProgress {
        bail!("the round did not end within {timeout:?}");
    }
    let last = RoundProgress {
        product_id: product,
        round: round_no,
        status: r.status,
        notified_count: r.notified_count,
        started_count: r.notified_count,
        last_sent_user_id: r.last_sent_user_id,
        stock: state.gate.level(product).available,
        rate_per_sec: 0.0,
        busiest_second: 0,
        error: r.error,
        alert_mode: r.alert_mode,
        claims: r.claims,
        at: r.finished_at.unwrap_or(r.started_at),
    };
    Ok((round_no, last))
}

/// The product's free stock as `GET /products/{id}` shows it (None if it does not say).
pub(crate) async fn stock_left(client: &Client, product_id: i64) -> anyhow::Result<Option<i64>> {
    let (_, now) = client
        .send(
            reqwest::Method::GET,
            &format!("/products/{product_id}"),
            &client.admin,
            None,
        )
        .await?;
    Ok(now["stock"].as_i64())
}

/// Follows the round's events to its end, moving the bars; None if the stream fell silent.
async fn follow(
    events: &mut tokio::sync::broadcast::Receiver<RoundProgress>,
    bars: &Bars,
    product: ProductId,
    round: i64,
    timeout: Duration,
) -> Option<RoundProgress> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, events.recv()).await;
        match next {
            Ok(Ok(e)) if e.product_id == product && e.round == round => {
                bars.show(&e);
                if e.status != RoundStatus::InProgress {
                    return Some(e);
                }
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            Ok(Err(RecvError::Closed)) | Err(_) => return None,
        }
    }
}
