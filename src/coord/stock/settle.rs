//! Settling taken units with the shared counters: committed or given back by request id, and
//! the settles Redis did not take kept and tried again until it does.

use super::{RedisStock, SharedLevel, at, level, lock};
use crate::domain::ids::ProductId;
use crate::domain::order::StockVersion;

/// A settle that could not reach Redis, kept to be tried again (it is idempotent).
#[derive(Debug, Clone)]
pub(super) struct Unsettled {
    product: ProductId,
    request: String,
    give_back: bool,
    version: StockVersion,
}

impl RedisStock {
    /// Settles `request`'s units: committed by the database at `version` (they stay taken)
    /// or given back; answers the level after it. Idempotent: an unknown or already settled
    /// request changes nothing.
    pub async fn settle(
        &self,
        p: ProductId,
        request: &str,
        give_back: bool,
        version: StockVersion,
    ) -> redis::RedisResult<Option<SharedLevel>> {
        let args = [
            self.field(request),
            if give_back { "1" } else { "0" }.to_owned(),
            self.channel(),
            p.to_string(),
            version.to_string(),
        ];
        let r: Vec<i64> = self.invoke(&self.settle, p, &args).await?;
        Ok((at(&r, 0) >= 0).then(|| level(p, &r)))
    }

    /// As [`RedisStock::settle`]; when Redis does not answer, the settle is kept and retried
    /// by [`RedisStock::retry_unsettled`] until it lands.
    pub async fn settle_or_keep(
        &self,
        p: ProductId,
        request: &str,
        give_back: bool,
        version: StockVersion,
    ) -> Option<SharedLevel> {
        match self.settle(p, request, give_back, version).await {
            Ok(seen) => seen,
            Err(e) => {
                tracing::warn!(error = %e, product = %p, "Failed to settle taken units; retrying later");
                lock(&self.unsettled).push(Unsettled {
                    product: p,
                    request: request.to_owned(),
                    give_back,
                    version,
                });
                None
            }
        }
    }

    /// Tries every kept settle once more; answers how many are still waiting and the levels
    /// the settles that landed saw.
    pub async fn retry_unsettled(&self) -> (usize, Vec<SharedLevel>) {
        let pending = std::mem::take(&mut *lock(&self.unsettled));
        let mut left = Vec::new();
        let mut seen = Vec::new();
        for u in pending {
            match self
                .settle(u.product, &u.request, u.give_back, u.version)
                .await
            {
                Ok(level) => seen.extend(level),
                Err(_) => left.push(u),
            }
        }
        let n = left.len();
        lock(&self.unsettled).extend(left);
        (n, seen)
    }
}
