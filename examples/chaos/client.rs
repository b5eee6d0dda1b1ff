//! The simulated clients: a random mix of orders, retries, cancels, payments, abandoned
//! requests and restocks.

use rand::Rng;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

use crate::{USERS, World, admin_call};

/// One simulated client: a random mix until `deadline`, at most 20,000 actions.
pub(crate) async fn client(world: Arc<World>, deadline: Instant) {
    for _ in 0..20_000 {
        if Instant::now() >= deadline {
            return;
        }
        let (roll, user, product, base, quantity, wait) = {
            let mut rng = rand::rng();
            let bases = world.bases.read().unwrap();
            (
                rng.random_range(0..100),
                rng.random_range(1..=USERS),
                world.products[rng.random_range(0..world.products.len())],
                bases[rng.random_range(0..bases.len())].clone(),
                rng.random_range(1..=2),
                rng.random_range(0..=8u64),
            )
        };
        let token = &world.tokens[(user - 1) as usize];
        let known = {
            let orders = world.orders.lock().unwrap();
            (!orders.is_empty()).then(|| orders[rand::rng().random_range(0..orders.len())])
        };
        match roll {
            0..=29 => {
                let body = json!({"quantity": quantity});
                let url = format!("{base}/products/{product}/orders");
                if roll < 8 {
                    // A retry with one key: the same order comes back.
                    let key = format!("k-{}", rand::rng().random::<u64>());
                    let tries = (0..3).map(|_| send(&world, &url, token, Some(&key), Some(&body)));
                    for v in futures::future::join_all(tries).await.into_iter().flatten() {
                        remember(&world, user, &v);
                    }
                } else if let Some(v) = send(&world, &url, token, None, Some(&body)).await {
                    remember(&world, user, &v);
                }
            }
            30..=41 => {
                if let Some((owner, order)) = known {
                    let t = &world.tokens[(owner - 1) as usize];
                    send(
                        &world,
                        &format!("{base}/orders/{order}/cancel"),
                        t,
                        None,
                        None,
                    )
                    .await;
                }
            }
            42..=55 => {
                if let Some((owner, order)) = known {
                    let t = &world.tokens[(owner - 1) as usize];
                    let body = json!({"payment_ref": format!("pay-{order}")});
                    send(
                        &world,
                        &format!("{base}/orders/{order}/pay"),
                        t,
                        None,
                        Some(&body),
                    )
                    .await;
                }
            }
            56..=79 => {
                let (method_path, body) = match (roll % 3, known) {
                    (1, Some((_, order))) => (format!("/orders/{order}/cancel"), String::new()),
                    (2, Some((_, order))) => (
                        format!("/orders/{order}/pay"),
                        json!({"payment_ref": format!("pay-{order}")}).to_string(),
                    ),
                    _ => (
                        format!("/products/{product}/orders"),
                        json!({"quantity": quantity}).to_string(),
                    ),
                };
                let owner_token = match known {
                    Some((owner, _)) if roll % 3 != 0 => &world.tokens[(owner - 1) as usize],
                    _ => token,
                };
                abandon(&world, &base, &method_path, owner_token, &body, wait).await;
            }
            80..=84 if rand::rng().random_range(0..10) == 0 => {
                // Restocks go to the first instance, which is never killed, so every 2xx counts.
                let first = world.bases.read().unwrap()[0].clone();
                let url = format!("{first}/products/{product}/notifications/re-stock");
                world.counters.requests.fetch_add(1, Relaxed);
                if admin_call(&world, &url, json!({"quantity": quantity}))
                    .await
                    .is_ok()
                {
                    *world.stocked.lock().unwrap().entry(product).or_default() += quantity;
                }
            }
            _ => {
                world.counters.requests.fetch_add(1, Relaxed);
                let _ = world
                    .client
                    .get(format!("{base}/products/{product}"))
                    .send()
                    .await;
            }
        }
    }
}

fn remember(world: &World, user: i64, order: &Value) {
    if let Some(id) = order["id"].as_i64() {
        let mut orders = world.orders.lock().unwrap();
        if !orders.contains(&(user, id)) && orders.len() < 5_000 {
            orders.push((user, id));
        }
    }
}

/// Sends a POST and answers the body of a 2xx answer.
async fn send(
    world: &World,
    url: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Option<Value> {
    world.counters.requests.fetch_add(1, Relaxed);
    let mut req = world.client.post(url).bearer_auth(token);
    if let Some(key) = key {
        req = req.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    match req.send().await {
        Ok(resp) if resp.status().is_success() => resp.json().await.ok(),
        Ok(_) => None,
        Err(_) => {
            world.counters.failed.fetch_add(1, Relaxed);
            None
        }
    }
}

/// Writes one whole request on a raw socket and closes it after `wait_ms`, unread.
async fn abandon(world: &World, base: &str, path: &str, token: &str, body: &str, wait_ms: u64) {
    world.counters.requests.fetch_add(1, Relaxed);
    world.counters.aborted.fetch_add(1, Relaxed);
    let addr = base.trim_start_matches("http://");
    let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(request.as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    drop(socket);
}
