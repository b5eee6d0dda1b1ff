//! Rounds whose owner is gone are taken at once, not when their lease lapses: on its own
//! database an instance that starts is the only one, and with Redis an owner whose heartbeat
//! lapsed is dead. A heartbeat that is missing because Redis lost it (restarted empty, say)
//! says nothing: while the heartbeats are in doubt nobody is gone (see
//! `coord::stock::Liveness`), so a live owner never loses its round to another instance.

use std::time::Duration;

use super::parts::Inner;
use crate::coord::stock::Liveness;
use crate::store::StoreResult;

/// How often, with Redis, the recovery worker looks for owners whose heartbeat lapsed: well
/// within the few seconds a round may wait after its owner's heartbeat is gone.
pub const HEARTBEAT_CHECK: Duration = Duration::from_secs(1);

/// When a look for gone owners happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Moment {
    /// Once, as the instance starts.
    Start,
    /// Any later look.
    Running,
}

/// Whether the instance named `owner` is certainly gone.
async fn is_gone(inner: &Inner, owner: &str, moment: Moment) -> bool {
    match inner.parts.gate.shared_backend() {
        // Without Redis one instance serves a database (decision 2), so a round held by
        // another name is a leftover of an earlier run of this service that did not stop
        // cleanly. Later on, only a lapsed lease says so.
        None => moment == Moment::Start,
        Some(redis) => match redis.liveness().await {
            Ok(Liveness::Known(live)) => !live.iter().any(|i| i == owner),
            Ok(Liveness::Unknown) => {
                tracing::info!(
                    owner,
                    "not taking this instance's rounds: Redis lost heartbeats lately, so a missing one does not show a dead owner"
                );
                false
            }
            Err(e) => {
                // Unknown is not gone: the lease still hands the round over in time.
                tracing::warn!(error = %e, owner, "Failed to read an instance's heartbeat");
                false
            }
        },
    }
}

/// Takes every running round held by an owner that is gone; answers how many it took.
pub(crate) async fn take_from_gone(inner: &Inner, moment: Moment) -> StoreResult<u64> {
    if inner.parts.gate.shared_backend().is_none() && moment == Moment::Running {
        return Ok(0);
    }
    let mut taken = 0;
    for owner in inner.parts.store.round_owners(&inner.owner).await? {
        if !is_gone(inner, &owner, moment).await {
            continue;
        }
        let n = inner
            .parts
            .store
            .take_rounds_of(&owner, &inner.lease(), inner.now())
            .await?;
        if n > 0 {
            tracing::info!(
                owner,
                rounds = n,
                "taking over the rounds of a gone instance"
            );
        }
        taken += n;
    }
    Ok(taken)
}
