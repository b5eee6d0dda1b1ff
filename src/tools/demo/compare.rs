//! `dropline demo --mode claim`: the same line, units and buyers told twice, first by a
//! broadcast round, then by a claim round whose unused claims expire and pass down the line;
//! the two side by side.

use anyhow::Context;
use serde_json::json;
use std::sync::Arc;
use std::time::Instant;

use super::args::DemoArgs;
use super::buyers::{Buyers, Rule};
use super::client::Client;
use super::side_by_side::{Comparison, Side};
use super::{display, round};
use crate::domain::ids::ProductId;
use crate::state::AppState;
use crate::tools::mock_receiver::MockReceiver;

/// How long a claim sets its unit aside: the shortest a product allows, so the unused ones
/// pass on quickly.
const CLAIM_SECONDS: i64 = 5;

/// Runs both rounds, one after the other so neither shares the rate limit with the other.
pub(crate) async fn compare(
    args: &DemoArgs,
    client: &Arc<Client>,
    state: &AppState,
    receiver: &MockReceiver,
) -> anyhow::Result<Comparison> {
    let (line, quantity) = (args.line(), args.quantity());
    let share = u64::from(args.take_share);
    let brands = round::brands(client).await?;
    let name = "Chair One x Kith";
    let broadcast = round::product_with_line(client, &brands, name, json!({}), line).await?;
    let claim_mode = json!({"alert_mode": "claim", "claim_seconds": CLAIM_SECONDS});
    let claim = round::product_with_line(client, &brands, name, claim_mode, line).await?;
    println!(
        "Helinox x Kith \"{name}\": {line} people in line; restocking {quantity} units at {}/s, \
         twice; {share}% of those notified order 0.2 to 2 s after their alert, the others never.",
        args.rate
    );
    let started = Instant::now();
    println!("Broadcast round: the line is notified until the units are gone.");
    let rule = Rule::Share(share);
    let broadcast = side(args, client, state, receiver, broadcast, rule).await?;
    println!(
        "Claim round: each alert sets a unit aside for {CLAIM_SECONDS} s; an unused one passes \
         to the next in line."
    );
    let claim = side(args, client, state, receiver, claim, rule).await?;
    Ok(Comparison {
        line,
        quantity,
        take_share: share,
        broadcast,
        claim,
        wall: started.elapsed(),
    })
}

/// One product's round with its buyers, from the restock until every order under way ended.
async fn side(
    args: &DemoArgs,
    client: &Arc<Client>,
    state: &AppState,
    receiver: &MockReceiver,
    product_id: i64,
    rule: Rule,
) -> anyhow::Result<Side> {
    let shop = Buyers::new(client.clone(), state.keys.clone(), product_id, rule);
    receiver.set_hook(shop.hook());
    let (round_no, last) = round::restock_and_follow(
        client,
        state,
        product_id,
        args.quantity(),
        args.line(),
        args.timeout,
    )
    .await?;
    shop.settle().await;
    let stored = state
        .store
        .get_round(ProductId::from_db(product_id), round_no)
        .await?
        .context("the round disappeared")?;
    Ok(Side {
        status: stored.status,
        notified: stored.notified_count,
        orders: shop.counts(),
        claims_expired: stored.claims.expired,
        seconds: display::seconds(&stored),
        stock_left: round::stock_left(client, product_id)
            .await?
            .unwrap_or(last.stock),
    })
}
