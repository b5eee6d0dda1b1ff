//! Taking and returning units through the gate, in-process or shared through Redis.
//!
//! A hold is owned by the task that places the order (never by a request's future, which a
//! client can drop at any await): it is committed after the database commit or given back.
//! Shared takes carry a request id, so a take whose answer was lost is undone by that id.

use std::sync::Arc;

use super::{GateHold, StockGate};
use crate::coord::stock::TakeOutcome;
use crate::domain::ids::ProductId;
use crate::domain::order::StockVersion;
use crate::store::StockRecord;

/// The shared gate did not answer; the request cannot be decided safely.
#[derive(Debug, thiserror::Error)]
#[error("the shared stock gate is unavailable: {0}")]
pub struct GateUnavailable(pub String);

/// What a take found.
#[derive(Debug)]
pub enum Take {
    /// The units are held for the order being written.
    Taken(Hold),
    /// Not enough stock.
    NotEnough,
    /// The gate has no counter for the product yet: load it from the database and retry.
    Unknown,
}

/// Units held for one order: commit them after the database commit, or give them back.
/// Dropped unsettled (a failed task), they go back.
#[derive(Debug)]
pub enum Hold {
    /// Held in this process.
    Local(GateHold),
    /// Held in Redis for one request of this instance.
    Shared(SharedHold),
}

/// Units held in the shared counters for one request.
#[derive(Debug)]
pub struct SharedHold {
    gate: Arc<StockGate>,
    product: ProductId,
    request: String,
    settled: bool,
}

impl Hold {
    /// The database took the units at stock `version`: they leave the gate for good.
    pub async fn commit(self, version: StockVersion) {
        match self {
            Self::Local(h) => h.commit(),
            Self::Shared(mut h) => {
                h.settled = true;
                if let Some(redis) = h.gate.shared.clone() {
                    let seen = redis
                        .settle_or_keep(h.product, &h.request, false, version)
                        .await;
                    h.gate.mirror_all(seen);
                }
            }
        }
    }

    /// The order was not written: the units go back.
    pub async fn give_back(self) {
        match self {
            Self::Local(h) => drop(h),
            Self::Shared(mut h) => {
                h.settled = true;
                if let Some(redis) = h.gate.shared.clone() {
                    let seen = redis.settle_or_keep(h.product, &h.request, true, 0).await;
                    h.gate.mirror_all(seen);
                }
            }
        }
    }
}

impl Drop for SharedHold {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (gate, product, request) = (self.gate.clone(), self.product, self.request.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(redis) = gate.shared.clone() {
                    let seen = redis.settle_or_keep(product, &request, true, 0).await;
                    gate.mirror_all(seen);
                }
            });
        }
    }
}

impl StockGate {
    /// Takes `quantity` units of `product` for the order `request` is about to write.
    pub async fn take(
        self: &Arc<Self>,
        product: ProductId,
        quantity: i64,
        request: &str,
    ) -> Result<Take, GateUnavailable> {
        let Some(redis) = &self.shared else {
            if !self.knows(product) {
                return Ok(Take::Unknown);
            }
            return Ok(self
                .try_take(product, quantity)
                .map_or(Take::NotEnough, |h| Take::Taken(Hold::Local(h))));
        };
        let outcome = match redis.take(product, quantity, request).await {
            Ok((outcome, seen)) => {
                self.mirror_all(seen);
                outcome
            }
            Err(e) => {
                // The script may have run with its answer lost: undo it by its request id.
                let seen = redis.settle_or_keep(product, request, true, 0).await;
                self.mirror_all(seen);
                return Err(GateUnavailable(e.to_string()));
            }
        };
        Ok(match outcome {
            TakeOutcome::Taken => Take::Taken(Hold::Shared(SharedHold {
                gate: self.clone(),
                product,
                request: request.to_owned(),
                settled: false,
            })),
            TakeOutcome::NotEnough => Take::NotEnough,
            TakeOutcome::Unknown => Take::Unknown,
        })
    }

    /// Creates the product's counter from the database's record unless it exists.
    pub async fn ensure_loaded(&self, record: StockRecord) -> Result<(), GateUnavailable> {
        match &self.shared {
            None => {
                self.load_if_unknown(record.product, record.stock);
                Ok(())
            }
            Some(redis) => {
                let (seen, _) = redis
                    .load(record)
                    .await
                    .map_err(|e| GateUnavailable(e.to_string()))?;
                self.mirror(seen);
                Ok(())
            }
        }
    }

    /// Units that came back after a committed cancel, expiry or restock, at stock `version`.
    /// A shared counter that cannot be reached is corrected later by reconciliation.
    pub async fn returned(&self, product: ProductId, quantity: i64, version: StockVersion) {
        if quantity <= 0 {
            return;
        }
        match &self.shared {
            None => self.add(product, quantity),
            Some(redis) => match redis.add(product, quantity, version).await {
                Ok(seen) => self.mirror_all(seen),
                Err(e) => {
                    tracing::warn!(error = %e, %product, "Failed to return units to the shared gate; reconciliation will");
                }
            },
        }
    }
}

impl StockGate {
    /// Re-reads a product's shared level into the mirror (nothing to do in-process).
    pub async fn refresh(&self, product: ProductId) -> Result<(), GateUnavailable> {
        if let Some(redis) = &self.shared {
            let seen = redis
                .read_level(product)
                .await
                .map_err(|e| GateUnavailable(e.to_string()))?;
            self.mirror_all(seen);
        }
        Ok(())
    }

    /// Tries every settle the shared gate kept once more and mirrors what they saw; answers
    /// how many are still waiting.
    pub async fn retry_unsettled(&self) -> usize {
        let Some(redis) = &self.shared else { return 0 };
        let (left, seen) = redis.retry_unsettled().await;
        self.mirror_all(seen);
        left
    }
}

impl StockGate {
    /// Units a committed change took from free stock without a hold of this gate's (a draw's
    /// winners), at stock `version`. An in-process gate without a counter for the product
    /// loads the database's figure when it first needs one.
    pub async fn taken(&self, product: ProductId, quantity: i64, version: StockVersion) {
        if quantity <= 0 {
            return;
        }
        match &self.shared {
            None => {
                if self.knows(product) {
                    self.add(product, -quantity);
                }
            }
            Some(redis) => match redis.add(product, -quantity, version).await {
                Ok(seen) => self.mirror_all(seen),
                Err(e) => {
                    tracing::warn!(error = %e, %product, "Failed to take units from the shared gate; reconciliation will");
                }
            },
        }
    }
}
