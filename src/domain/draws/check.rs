//! The checks of `dropline draw verify`: the draw recomputed from the revealed seed and the
//! saved entry list, against the figures the draw published (or those given on the command
//! line) and against the ranks and statuses the list shows. The first disagreement is the
//! answer, naming the user or the figure at fault and what was expected and found.

use std::collections::BTreeMap;

use super::documents::{DrawDoc, Listed, parse_draw, parse_listed};
use super::ranks::{check_ranks, check_statuses};
use super::report::report;
use super::rules::{is_seed, recompute, seed_hash};
use super::verdict::{DOC, Given, Mismatch, Request, Verdict, mismatch};
use crate::domain::ValidationError;

fn given<T>(flag: Option<T>, name: &'static str, doc: Option<T>) -> Vec<Given<T>> {
    [(flag, name), (doc, DOC)]
        .into_iter()
        .filter_map(|(value, from)| value.map(|value| Given { value, from }))
        .collect()
}

/// Reads the documents, recomputes the draw and checks it. Errors are input that cannot be
/// read; a disagreement is in the verdict.
pub fn verify(req: &Request<'_>) -> Result<Verdict, ValidationError> {
    let doc = req.draw.map(parse_draw).transpose()?.unwrap_or_default();
    let seeds = given(req.seed, "--seed", doc.seed.as_deref());
    let Some(seed) = seeds.first() else {
        return Err(ValidationError::new(
            "seed",
            "give --seed, or --draw with a revealed seed",
        ));
    };
    if !is_seed(seed.value) {
        return Err(ValidationError::new(
            "seed",
            format!("{}: must be 64 lowercase hex digits", seed.from),
        ));
    }
    let mut listed = Vec::new();
    for text in req.entries {
        listed.extend(parse_listed(text)?);
    }
    if let Some(dup) = twice(&listed) {
        return Err(ValidationError::new(
            "entries",
            format!("user {dup} is listed twice"),
        ));
    }
    let units = given(req.units, "--units", doc.units);
    let taking: Vec<(i64, i64)> = listed
        .iter()
        .filter(|l| !l.withdrawn())
        .map(|l| (l.user_id, l.quantity))
        .collect();
    let report = report(seed.value, &taking, units.first().map(|u| u.value))?;
    let mut notes = Vec::new();
    if units.is_empty() && listed.iter().any(|l| l.status.is_some()) {
        notes.push("statuses not checked: give --units or a draw document with units".into());
    }
    let result = check(&seeds, req, &doc, &units, &listed);
    Ok(Verdict {
        report,
        result,
        notes,
    })
}

/// Two sources of one figure (the command line and the draw document) must agree.
fn agree<T: PartialEq + std::fmt::Display>(
    what: &str,
    verb: &str,
    given: &[Given<T>],
) -> Result<(), Mismatch> {
    if let [a, b] = given
        && a.value != b.value
    {
        mismatch!(
            "{what}: {} is {}, but {} {verb} {}",
            a.from,
            a.value,
            b.from,
            b.value
        );
    }
    Ok(())
}

fn twice(listed: &[Listed]) -> Option<i64> {
    let mut seen = std::collections::BTreeSet::new();
    listed
        .iter()
        .find(|l| !seen.insert(l.user_id))
        .map(|l| l.user_id)
}

fn check(
    seeds: &[Given<&str>],
    req: &Request<'_>,
    doc: &DrawDoc,
    units: &[Given<i64>],
    listed: &[Listed],
) -> Result<Vec<&'static str>, Mismatch> {
    let mut checked = Vec::new();
    let seed = &seeds[0];
    let hash = seed_hash(seed.value);
    let hashes = given(req.seed_hash, "--seed-hash", doc.seed_hash.as_deref());
    for want in &hashes {
        if !want.value.trim().eq_ignore_ascii_case(&hash) {
            mismatch!(
                "seed hash: SHA-256 of the seed ({}) is {hash}, but {} says {}",
                seed.from,
                want.from,
                want.value
            );
        }
        checked.push("seed_hash");
    }
    agree("seed", "reveals", seeds)?;
    agree("units", "says", units)?;
    for l in listed.iter().filter(|l| l.withdrawn()) {
        if let Some(rank) = l.rank {
            mismatch!(
                "user {}: WITHDRAWN but listed at rank {rank} (a withdrawn entry takes no part)",
                l.user_id
            );
        }
    }
    let taking: Vec<&Listed> = listed.iter().filter(|l| !l.withdrawn()).collect();
    let pairs: Vec<(i64, i64)> = taking.iter().map(|l| (l.user_id, l.quantity)).collect();
    let units = units.first();
    let (ranked, digest) = recompute(seed.value, &pairs, units.map_or(0, |u| u.value));
    let by_user: BTreeMap<i64, &Listed> = taking.iter().map(|l| (l.user_id, *l)).collect();
    if taking.iter().any(|l| l.rank.is_some()) {
        check_ranks(&taking, &ranked, &by_user)?;
        checked.push("ranks");
    }
    if let Some(want) = doc.entries {
        let found = taking.len();
        if usize::try_from(want).ok() != Some(found) {
            mismatch!(
                "entries: the list has {found} entries that took part, but {DOC} says {want}"
            );
        }
        checked.push("entries");
    }
    for want in given(req.digest, "--digest", doc.entries_digest.as_deref()) {
        if !want.value.trim().eq_ignore_ascii_case(&digest) {
            mismatch!(
                "entries digest: the list's users and quantities give {digest}, but {} says {}: \
                 an entry was added, removed or its quantity changed",
                want.from,
                want.value
            );
        }
        checked.push("entries_digest");
    }
    if let Some(units) = units
        && taking.iter().any(|l| l.status.is_some())
    {
        check_statuses(&ranked, &by_user, units)?;
        checked.push("statuses");
    }
    checked.dedup();
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's worked example: seed, and the list the draw gives for 4 units.
    const SEED: &str = "c0ffee02c0ffee02c0ffee02c0ffee02c0ffee02c0ffee02c0ffee02c0ffee02";
    const LIST: &str = "user_id,quantity,rank,status\n103,3,1,WON\n105,2,2,WAITLISTED\n\
                        104,1,3,WON\n102,1,4,WAITLISTED\n101,2,5,WAITLISTED\n106,1,,WITHDRAWN\n";
    const DIGEST: &str = "d4ea4a0abeb96c84d0ba79c103df552ba473c98f517551d4f14064d222f7bf85";

    fn run(list: &str, units: i64, digest: Option<&str>) -> Result<Vec<&'static str>, Mismatch> {
        let entries = [list.to_owned()];
        let req = Request {
            seed: Some(SEED),
            seed_hash: Some("f5616356954346baf07a2459f9c9978f80f416ac354d2520e825106af3ba452d"),
            digest,
            units: Some(units),
            draw: None,
            entries: &entries,
        };
        verify(&req).unwrap().result
    }

    fn refused(list: &str, units: i64) -> String {
        run(list, units, Some(DIGEST)).unwrap_err().0
    }

    #[test]
    fn an_honest_list_passes_every_check() {
        assert_eq!(
            run(LIST, 4, Some(DIGEST)).unwrap(),
            ["seed_hash", "ranks", "entries_digest", "statuses"]
        );
    }

    #[test]
    fn each_change_is_named_with_what_was_expected_and_found() {
        let relabel = LIST.replace("102,1,4,WAITLISTED", "102,1,4,WON");
        assert!(
            refused(&relabel, 4).starts_with(
                "user 102 (rank 4, quantity 1): expected WAITLISTED, found WON (going down the \
                 ranks with 4 units from --units, 0 were left at its turn)"
            ),
            "{}",
            refused(&relabel, 4)
        );
        let gap = LIST.replace("105,2,2,WAITLISTED\n", "");
        assert_eq!(
            refused(&gap, 4),
            "rank 2: missing from the list (an entry was removed)"
        );
        let swap = LIST
            .replace("103,3,1", "103,3,2")
            .replace("105,2,2", "105,2,1");
        assert_eq!(
            refused(&swap, 4),
            "user 103: the seed ranks it 1, the list says 2"
        );
        let twice = LIST.replace("105,2,2", "105,2,1");
        assert_eq!(
            refused(&twice, 4),
            "rank 1: listed twice, for users 103 and 105"
        );
        let quantity = LIST.replace("101,2,5", "101,1,5");
        assert!(refused(&quantity, 4).starts_with("entries digest: the list's users"));
        assert!(refused(LIST, 5).starts_with(
            "user 105 (rank 2, quantity 2): expected WON, found WAITLISTED (going down the \
             ranks with 5 units from --units, 2 were left"
        ));
        let ranked_withdrawal = LIST.replace("106,1,,WITHDRAWN", "106,1,6,WITHDRAWN");
        assert!(refused(&ranked_withdrawal, 4).starts_with("user 106: WITHDRAWN but listed"));
    }

    #[test]
    fn a_list_without_ranks_or_statuses_checks_the_digest_alone() {
        let bare = "101,2\n102,1\n103,3\n104,1\n105,2\n";
        assert_eq!(
            run(bare, 4, Some(DIGEST)).unwrap(),
            ["seed_hash", "entries_digest"]
        );
        let partly = LIST.replace("104,1,3,WON", "104,1");
        assert_eq!(
            refused(&partly, 4),
            "user 104: no rank listed, while other entries have one"
        );
    }

    #[test]
    fn the_draw_document_supplies_the_seed_and_units_and_is_held_to_them() {
        let entries = [LIST.to_owned()];
        let doc = format!(
            r#"{{"status": "DRAWN", "seed": "{SEED}", "entries": 5, "units": 4,
            "entries_digest": "{DIGEST}",
            "seed_hash": "f5616356954346baf07a2459f9c9978f80f416ac354d2520e825106af3ba452d"}}"#
        );
        let req = Request {
            draw: Some(&doc),
            entries: &entries,
            ..Request::default()
        };
        assert_eq!(
            verify(&req).unwrap().result.unwrap(),
            [
                "seed_hash",
                "ranks",
                "entries",
                "entries_digest",
                "statuses"
            ]
        );
        let other = Request {
            units: Some(3),
            ..req.clone()
        };
        assert_eq!(
            verify(&other).unwrap().result.unwrap_err().0,
            "units: --units is 3, but the draw document says 4"
        );
        let open = r#"{"status": "OPEN", "seed": null}"#;
        let early = Request {
            draw: Some(open),
            ..req
        };
        assert!(verify(&early).is_err());
    }
}
