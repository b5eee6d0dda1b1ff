//! Checking a waiting room's order without trusting the server: from the revealed seed and
//! the saved member list (`GET /admin/products/{id}/queue/members` pages), every early
//! member's rank key is recomputed and the list's order checked against the room's rule.

use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write as _;

use crate::domain::ValidationError;
use crate::domain::draws::{is_seed, rank_key, seed_hash};

/// One member as a saved list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The member.
    pub user_id: i64,
    /// Whether it joined before the sale started.
    pub joined_before_start: bool,
    /// The rank key the list shows (early members).
    pub rank_key: Option<String>,
    /// When it joined, as listed (RFC 3339, compared as text: the server writes one form).
    pub joined_at: String,
}

/// Reads saved member pages: one or more JSON documents, each a page (`items`), an array
/// of members, or one member.
pub fn read_members(texts: &[String]) -> Result<Vec<Listed>, ValidationError> {
    let mut out = Vec::new();
    for text in texts {
        for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
            let doc = doc.map_err(|e| ValidationError::new("members", format!("bad JSON: {e}")))?;
            collect(&doc, &mut out)?;
        }
    }
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<Listed>) -> Result<(), ValidationError> {
    let many = v
        .get("items")
        .and_then(Value::as_array)
        .or_else(|| v.as_array());
    if let Some(items) = many {
        return items.iter().try_for_each(|m| collect(m, out));
    }
    let bad = |what: &str| ValidationError::new("members", format!("a member {what}: {v}"));
    let user_id = v
        .get("user_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("without a numeric user_id"))?;
    let joined_before_start = v
        .get("joined_before_start")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("without joined_before_start"))?;
    out.push(Listed {
        user_id,
        joined_before_start,
        rank_key: v.get("rank_key").and_then(Value::as_str).map(str::to_owned),
        joined_at: v
            .get("joined_at")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    });
    Ok(())
}

/// What a check found: the recomputed room, and the checks passed or the first mismatch.
#[derive(Debug)]
pub struct Verdict {
    /// The seed's hash, the counts and every place with its user and recomputed key.
    pub report: String,
    /// The names of the checks passed, or the first mismatch.
    pub result: Result<Vec<&'static str>, String>,
}

/// Recomputes the room's order from `seed` and checks the listed `members` against it (and
/// the seed against `published_hash`, when given).
pub fn verify(
    seed: &str,
    published_hash: Option<&str>,
    members: &[Listed],
) -> Result<Verdict, ValidationError> {
    if !is_seed(seed) {
        return Err(ValidationError::new(
            "seed",
            "must be 64 lowercase hex digits",
        ));
    }
    let hash = seed_hash(seed);
    let early = members.iter().filter(|m| m.joined_before_start).count();
    let mut report = format!(
        "seed_hash: {hash}\nmembers: {} ({early} joined before the start, {} after)\n",
        members.len(),
        members.len() - early
    );
    let keys: Vec<Option<String>> = members
        .iter()
        .map(|m| m.joined_before_start.then(|| rank_key(seed, m.user_id)))
        .collect();
    for (i, (m, key)) in members.iter().zip(&keys).enumerate() {
        let _ = writeln!(
            report,
            "{} {} {}",
            i + 1,
            m.user_id,
            key.as_deref().unwrap_or(&m.joined_at)
        );
    }
    let result = check(&hash, published_hash, members, &keys);
    Ok(Verdict { report, result })
}

fn check(
    hash: &str,
    published_hash: Option<&str>,
    members: &[Listed],
    keys: &[Option<String>],
) -> Result<Vec<&'static str>, String> {
    let mut passed = Vec::new();
    if let Some(published) = published_hash {
        if published.trim() != hash {
            return Err(format!(
                "the seed hashes to {hash}, not to the published {}",
                published.trim()
            ));
        }
        passed.push("seed-hash");
    }
    let mut seen = HashSet::new();
    for (i, (m, key)) in members.iter().zip(keys).enumerate() {
        let place = i + 1;
        if !seen.insert(m.user_id) {
            return Err(format!(
                "user {} is listed twice (place {place})",
                m.user_id
            ));
        }
        if let (Some(key), Some(listed)) = (key, &m.rank_key)
            && key != listed
        {
            return Err(format!(
                "user {} at place {place}: rank key {listed} listed, {key} recomputed",
                m.user_id
            ));
        }
        let Some(prev) = i.checked_sub(1).map(|j| (&members[j], &keys[j])) else {
            continue;
        };
        let in_order = match (prev.1, key) {
            (Some(a), Some(b)) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => prev.0.joined_at <= m.joined_at,
        };
        if !in_order {
            return Err(format!(
                "user {} at place {place} comes before user {} by the room's rule",
                m.user_id, prev.0.user_id
            ));
        }
    }
    passed.extend(["rank-keys", "order"]);
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn early(user: i64) -> Listed {
        Listed {
            user_id: user,
            joined_before_start: true,
            rank_key: Some(rank_key(SEED, user)),
            joined_at: "2026-12-14T09:50:00Z".into(),
        }
    }

    fn ranked(users: &[i64]) -> Vec<Listed> {
        let mut v: Vec<Listed> = users.iter().map(|u| early(*u)).collect();
        v.sort_by(|a, b| a.rank_key.cmp(&b.rank_key));
        v
    }

    #[test]
    fn a_list_in_the_rooms_order_verifies_and_a_swap_does_not() {
        let mut list = ranked(&[1, 2, 3, 4, 5]);
        list.push(Listed {
            user_id: 9,
            joined_before_start: false,
            rank_key: None,
            joined_at: "2026-12-14T10:00:01Z".into(),
        });
        let hash = seed_hash(SEED);
        let ok = verify(SEED, Some(&hash), &list).unwrap();
        assert_eq!(ok.result, Ok(vec!["seed-hash", "rank-keys", "order"]));
        list.swap(0, 1);
        let bad = verify(SEED, None, &list).unwrap();
        assert!(bad.result.unwrap_err().contains("comes before"));
        list.swap(0, 1);
        list.swap(4, 5);
        assert!(verify(SEED, None, &list).unwrap().result.is_err());
    }

    #[test]
    fn a_wrong_key_or_seed_hash_is_named() {
        let mut list = ranked(&[7, 8]);
        list[0].rank_key = Some("0".repeat(64));
        let v = verify(SEED, None, &list).unwrap();
        assert!(v.result.unwrap_err().contains("recomputed"));
        let v = verify(SEED, Some(&"f".repeat(64)), &ranked(&[7])).unwrap();
        assert!(v.result.unwrap_err().contains("published"));
        assert!(verify("nope", None, &[]).is_err());
    }

    #[test]
    fn pages_are_read_in_order() {
        let page = r#"{"items": [{"user_id": 3, "joined_before_start": true, "rank_key": "ab",
            "joined_at": "t"}], "next": "x"} {"items": [{"user_id": 4,
            "joined_before_start": false, "rank_key": null, "joined_at": "u"}], "next": null}"#;
        let got = read_members(&[page.to_owned()]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].user_id, 4);
        assert!(read_members(&[r#"{"items": [{"user_id": "x"}]}"#.to_owned()]).is_err());
    }
}
