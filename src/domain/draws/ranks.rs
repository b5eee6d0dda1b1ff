//! The checks of a saved list against the recomputed draw: its ranks, then its statuses
//! going down the ranks with the units.

use std::collections::BTreeMap;

use super::documents::Listed;
use super::rules::Ranked;
use super::verdict::{Given, Mismatch, mismatch};

/// The listed ranks are 1..=n, once each, and each is the rank the seed gives its user.
pub(super) fn check_ranks(
    taking: &[&Listed],
    ranked: &[Ranked],
    by_user: &BTreeMap<i64, &Listed>,
) -> Result<(), Mismatch> {
    let mut ranks = Vec::with_capacity(taking.len());
    for l in taking {
        match l.rank {
            Some(rank) => ranks.push((rank, l.user_id)),
            None => mismatch!(
                "user {}: no rank listed, while other entries have one",
                l.user_id
            ),
        }
    }
    ranks.sort_unstable();
    for (i, &(rank, user)) in ranks.iter().enumerate() {
        let want = i as i64 + 1;
        if i > 0 && ranks[i - 1].0 == rank {
            mismatch!(
                "rank {rank}: listed twice, for users {} and {user}",
                ranks[i - 1].1
            );
        }
        if rank > want {
            mismatch!("rank {want}: missing from the list (an entry was removed)");
        }
        if rank < want {
            mismatch!("user {user}: rank {rank} is not a rank (ranks start at 1)");
        }
    }
    for r in ranked {
        let found = by_user.get(&r.user_id).and_then(|l| l.rank);
        if found != Some(r.rank) {
            mismatch!(
                "user {}: the seed ranks it {}, the list says {}",
                r.user_id,
                r.rank,
                found.map_or("none".into(), |f| f.to_string())
            );
        }
    }
    Ok(())
}

/// Going down the ranks with the units, each listed status is the one the rule gives.
pub(super) fn check_statuses(
    ranked: &[Ranked],
    by_user: &BTreeMap<i64, &Listed>,
    units: &Given<i64>,
) -> Result<(), Mismatch> {
    let mut left = units.value;
    for r in ranked {
        let want = if r.won { "WON" } else { "WAITLISTED" };
        let found = by_user.get(&r.user_id).and_then(|l| l.status.as_deref());
        if found != Some(want) {
            mismatch!(
                "user {} (rank {}, quantity {}): expected {want}, found {} (going down the \
                 ranks with {} units from {}, {left} were left at its turn)",
                r.user_id,
                r.rank,
                r.quantity,
                found.unwrap_or("no status"),
                units.value,
                units.from
            );
        }
        if r.won {
            left -= r.quantity;
        }
    }
    Ok(())
}
