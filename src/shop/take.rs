//! Taking and returning units through the gate, in-process or shared through Redis.

use std::sync::Arc;

use super::gate::{GateHold, StockGate};
use crate::coord::stock::TakeOutcome;
use crate::domain::ids::ProductId;

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

/// Units held for one order. Commit after the database commit; dropping it gives them back.
#[derive(Debug)]
pub enum Hold {
    /// Held in this process.
    Local(GateHold),
    /// Held in Redis for this instance.
    Shared(SharedHold),
}

/// Units held in the shared counters for one order.
#[derive(Debug)]
pub struct SharedHold {
    gate: Arc<StockGate>,
    product: ProductId,
    quantity: i64,
    settled: bool,
}

impl Hold {
    /// The database took the units: they leave the gate for good.
    pub async fn commit(self) {
        match self {
            Self::Local(h) => h.commit(),
            Self::Shared(mut h) => {
                h.settled = true;
                if let Some(redis) = h.gate.shared.clone()
                    && let Err(e) = redis.settle(&h.gate, h.product, h.quantity, false).await
                {
                    tracing::warn!(error = %e, product = %h.product, "Failed to settle taken units; reconciliation will");
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
        let (gate, product, quantity) = (self.gate.clone(), self.product, self.quantity);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some(redis) = gate.shared.clone()
                    && let Err(e) = redis.settle(&gate, product, quantity, true).await
                {
                    tracing::warn!(error = %e, %product, "Failed to give units back; reconciliation will");
                }
            });
        }
    }
}

impl StockGate {
    /// Takes `quantity` units of `product` for an order about to be written.
    pub async fn take(
        self: &Arc<Self>,
        product: ProductId,
        quantity: i64,
    ) -> Result<Take, GateUnavailable> {
        let Some(redis) = &self.shared else {
            if !self.knows(product) {
                return Ok(Take::Unknown);
            }
            return Ok(self
                .try_take(product, quantity)
                .map_or(Take::NotEnough, |h| Take::Taken(Hold::Local(h))));
        };
        match redis
            .take(self, product, quantity)
            .await
            .map_err(|e| GateUnavailable(e.to_string()))?
        {
            TakeOutcome::Taken => Ok(Take::Taken(Hold::Shared(SharedHold {
                gate: self.clone(),
                product,
                quantity,
                settled: false,
            }))),
            TakeOutcome::NotEnough => Ok(Take::NotEnough),
            TakeOutcome::Unknown => Ok(Take::Unknown),
        }
    }

    /// Creates the product's counter from the database's figure unless it exists.
    pub async fn ensure_loaded(
        &self,
        product: ProductId,
        stock: i64,
    ) -> Result<(), GateUnavailable> {
        match &self.shared {
            None => {
                self.load_if_unknown(product, stock);
                Ok(())
            }
            Some(redis) => redis
                .load(product, stock)
                .await
                .map_err(|e| GateUnavailable(e.to_string())),
        }
    }

    /// Units that came back after a committed cancel, expiry or restock. A shared counter that
    /// cannot be reached is corrected later by reconciliation with the database.
    pub async fn returned(&self, product: ProductId, quantity: i64) {
        match &self.shared {
            None => self.add(product, quantity),
            Some(redis) => {
                if let Err(e) = redis.add(self, product, quantity).await {
                    tracing::warn!(error = %e, %product, "Failed to return units to the shared gate; reconciliation will");
                }
            }
        }
    }
}
