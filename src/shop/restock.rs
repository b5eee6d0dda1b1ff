//! The two ways a round begins: a restock opens the next round, and an operator resumes a
//! round that a provider failure stopped. Both run detached from the caller, so a client
//! that goes away mid-request changes nothing about the outcome.

use tokio_util::task::TaskTracker;

use crate::domain::ids::ProductId;
use crate::domain::round::Round;
use crate::notify::{Notifier, RoundWatch};
use crate::shop::detach::{StepError, detached};

/// Adds `quantity` units to `product` (0: none) and opens its next round on `notifier`;
/// answers the round as opened and a watch on its run.
pub async fn restock(
    notifier: &Notifier,
    tasks: &TaskTracker,
    product: ProductId,
    quantity: i64,
) -> Result<(Round, RoundWatch), StepError> {
    let notifier = notifier.clone();
    detached(tasks, async move {
        // Recovery leaves the product alone until the gate has the new stock and the
        // runner is started.
        let opening = notifier.opening(product);
        let (round, version) = notifier
            .store()
            .open_round(product, quantity, &notifier.lease(), notifier.now())
            .await?;
        notifier.gate().returned(product, quantity, version).await;
        let watch = notifier.start(product, round.round);
        drop(opening);
        Ok::<_, StepError>((round, watch))
    })
    .await?
}

/// Resumes `product`'s latest round when it is `CANCELED_BY_ERROR`, from the next member of
/// the line; answers the round and a watch on its run.
pub async fn resume(
    notifier: &Notifier,
    tasks: &TaskTracker,
    product: ProductId,
) -> Result<(Round, RoundWatch), StepError> {
    let notifier = notifier.clone();
    detached(tasks, async move {
        let opening = notifier.opening(product);
        let round = notifier
            .store()
            .resume_round(product, &notifier.lease(), notifier.now())
            .await?;
        let watch = notifier.start(product, round.round);
        drop(opening);
        Ok::<_, StepError>((round, watch))
    })
    .await?
}
