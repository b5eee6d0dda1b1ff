//! `dropline draw verify`: recomputes a draw from its revealed seed and an exported entry
//! list, without the server, and writes the ranks, the winners and the digest.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::ValidationError;
use super::draw::{is_seed, recompute, seed_hash};

/// Reads an entry list: saved `GET /products/{id}/draw/entries` pages (one or more JSON
/// documents, each a page, or an array of pages or entries), or one `user_id,quantity` per
/// line (blank lines, `#` comments and a `user_id,quantity` header are skipped). Withdrawn
/// entries take no part and are dropped; a user listed twice is refused.
pub fn parse_entries(text: &str) -> Result<Vec<(i64, i64)>, ValidationError> {
    let trimmed = text.trim_start();
    let listed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        from_json(trimmed)?
    } else {
        from_lines(text)?
    };
    let mut seen = BTreeMap::new();
    for (user, quantity) in &listed {
        if *user <= 0 || *quantity <= 0 {
            return Err(ValidationError::new(
                "entries",
                format!("user {user} with quantity {quantity}: both must be positive"),
            ));
        }
        if seen.insert(*user, *quantity).is_some() {
            return Err(ValidationError::new(
                "entries",
                format!("user {user} is listed twice"),
            ));
        }
    }
    Ok(listed)
}

fn from_lines(text: &str) -> Result<Vec<(i64, i64)>, ValidationError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line == "user_id,quantity" {
            continue;
        }
        let parsed = line
            .split_once(',')
            .and_then(|(u, q)| Some((u.trim().parse().ok()?, q.trim().parse().ok()?)));
        match parsed {
            Some(entry) => out.push(entry),
            None => {
                return Err(ValidationError::new(
                    "entries",
                    format!("line {} is not user_id,quantity: {line}", n + 1),
                ));
            }
        }
    }
    Ok(out)
}

fn from_json(text: &str) -> Result<Vec<(i64, i64)>, ValidationError> {
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>() {
        let doc = doc.map_err(|e| ValidationError::new("entries", format!("bad JSON: {e}")))?;
        collect(&doc, &mut out)?;
    }
    Ok(out)
}

fn collect(v: &serde_json::Value, out: &mut Vec<(i64, i64)>) -> Result<(), ValidationError> {
    if let Some(items) = v.get("items").and_then(|i| i.as_array()) {
        for item in items {
            collect(item, out)?;
        }
    } else if let Some(all) = v.as_array() {
        for item in all {
            collect(item, out)?;
        }
    } else {
        if v.get("status").and_then(|s| s.as_str()) == Some("WITHDRAWN") {
            return Ok(());
        }
        let field = |name: &str| v.get(name).and_then(serde_json::Value::as_i64);
        match (field("user_id"), field("quantity")) {
            (Some(u), Some(q)) => out.push((u, q)),
            _ => {
                return Err(ValidationError::new(
                    "entries",
                    format!("an entry without user_id and quantity: {v}"),
                ));
            }
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_lines_give_the_same_list() {
        let pages = r#"{"items": [{"user_id": 2, "quantity": 1, "status": "WON"},
            {"user_id": 3, "quantity": 2, "status": "WITHDRAWN"}], "next": "1"}
            {"items": [{"user_id": 1, "quantity": 2, "status": "WAITLISTED"}], "next": null}"#;
        assert_eq!(parse_entries(pages).unwrap(), [(2, 1), (1, 2)]);
        let lines = "user_id,quantity\n2,1\n\n# a comment\n1, 2\n";
        assert_eq!(parse_entries(lines).unwrap(), [(2, 1), (1, 2)]);
        assert!(parse_entries("1,1\n1,2\n").is_err());
        assert!(parse_entries("1;1\n").is_err());
    }
}
