//! The text of a recomputed draw, as `dropline draw verify` prints it: the seed's hash, the
//! digest, one line per rank and the winners.

use std::fmt::Write;

use super::rules::{is_seed, recompute, seed_hash};
use crate::domain::ValidationError;

/// The report of a recomputed draw: the seed's hash, the digest, one line per rank and the
/// winners (when `units` is given).
pub fn report(
    seed: &str,
    entries: &[(i64, i64)],
    units: Option<i64>,
) -> Result<String, ValidationError> {
    if !is_seed(seed) {
        return Err(ValidationError::new(
            "seed",
            "must be 64 lowercase hex digits",
        ));
    }
    let (ranked, digest) = recompute(seed, entries, units.unwrap_or(0));
    let mut out = String::new();
    let _ = writeln!(out, "seed_hash {}", seed_hash(seed));
    let _ = writeln!(out, "entries {}", ranked.len());
    let _ = writeln!(out, "entries_digest {digest}");
    let _ = writeln!(out, "rank user_id quantity status");
    for r in &ranked {
        let status = match (units, r.won) {
            (None, _) => "-",
            (Some(_), true) => "WON",
            (Some(_), false) => "WAITLISTED",
        };
        let _ = writeln!(out, "{} {} {} {status}", r.rank, r.user_id, r.quantity);
    }
    if let Some(units) = units {
        let winners: Vec<String> = ranked
            .iter()
            .filter(|r| r.won)
            .map(|r| r.user_id.to_string())
            .collect();
        let given: i64 = ranked.iter().filter(|r| r.won).map(|r| r.quantity).sum();
        let _ = writeln!(out, "winners {}", winners.join(","));
        let _ = writeln!(out, "units {given} of {units}");
    }
    Ok(out)
}
