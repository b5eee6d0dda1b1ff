//! The two ways a round begins: a restock opens the next round, and an operator resumes a
//! round that a provider failure stopped. Both run detached from the caller, so a client
//! that goes away mid-request changes nothing about the outcome.

use tokio_util::task::TaskTracker;

use super::engine::{Notifier, RoundWatch};
use crate::domain::ids::ProductId;
use crate::domain::round::Round;
use crate::shop::detach::{StepError, detached};

impl Notifier {
    /// Adds `quantity` units to `product` (0: none) and opens its next round; answers the
    /// round as opened and a watch on its run.
    pub async fn restock(
        &self,
        tasks: &TaskTracker,
        product: ProductId,
        quantity: i64,
    ) -> Result<(Round, RoundWatch), StepError> {
        let me = self.clone();
        detached(tasks, async move {
            // Recovery leaves the product alone until the gate has the new stock and the
            // runner is started.
            let opening = me.opening(product);
            let (round, version) = me
                .store()
                .open_round(product, quantity, &me.lease(), me.now())
                .await?;
            me.gate().returned(product, quantity, version).await;
            let watch = me.start(product, round.round);
            drop(opening);
            Ok::<_, StepError>((round, watch))
        })
        .await?
    }

    /// Resumes `product`'s latest round when it is `CANCELED_BY_ERROR`, from the next
    /// member of the line; answers the round and a watch on its run.
    pub async fn resume(
        &self,
        tasks: &TaskTracker,
        product: ProductId,
    ) -> Result<(Round, RoundWatch), StepError> {
        let me = self.clone();
        detached(tasks, async move {
            let opening = me.opening(product);
            let round = me
                .store()
                .resume_round(product, &me.lease(), me.now())
                .await?;
            let watch = me.start(product, round.round);
            drop(opening);
            Ok::<_, StepError>((round, watch))
        })
        .await?
    }
}
