//! The saved documents `dropline draw verify` reads, without the server: an entry list (pages
//! or lines) and the draw itself. The recomputed draw's text is in `report.rs`, the checks
//! against it in `check.rs`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::domain::ValidationError;

/// One entry as a saved list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The user.
    pub user_id: i64,
    /// Units asked for.
    pub quantity: i64,
    /// The rank listed (None when the list carries no rank, or for a withdrawn entry).
    pub rank: Option<i64>,
    /// The status listed, as spelled (None when the list carries no status).
    pub status: Option<String>,
}

impl Listed {
    /// Whether the entry was withdrawn (takes no part in the draw).
    pub fn withdrawn(&self) -> bool {
        self.status.as_deref() == Some("WITHDRAWN")
    }
}

/// Reads an entry list: saved `GET /products/{id}/draw/entries` pages (one or more JSON
/// documents, each a page, or an array of pages or entries), or one
/// `user_id,quantity[,rank,status]` per line (blank lines, `#` comments and a header line
/// starting `user_id,` are skipped). Withdrawn entries are kept (they are checked to carry no
/// rank); a user listed twice is refused.
pub fn parse_listed(text: &str) -> Result<Vec<Listed>, ValidationError> {
    let trimmed = text.trim_start();
    let listed = if trimmed.starts_with('{') || trimmed.starts_with('[') {
        from_json(trimmed)?
    } else {
        from_lines(text)?
    };
    let mut seen = BTreeMap::new();
    for l in &listed {
        let (user, quantity) = (l.user_id, l.quantity);
        if user <= 0 || quantity <= 0 {
            return Err(ValidationError::new(
                "entries",
                format!("user {user} with quantity {quantity}: both must be positive"),
            ));
        }
        if seen.insert(user, quantity).is_some() {
            return Err(ValidationError::new(
                "entries",
                format!("user {user} is listed twice"),
            ));
        }
    }
    Ok(listed)
}

/// The entries that take part in an entry list, `(user_id, quantity)`: as [`parse_listed`]
/// reads it, withdrawn entries left out.
pub fn parse_entries(text: &str) -> Result<Vec<(i64, i64)>, ValidationError> {
    Ok(parse_listed(text)?
        .into_iter()
        .filter(|l| !l.withdrawn())
        .map(|l| (l.user_id, l.quantity))
        .collect())
}

fn from_lines(text: &str) -> Result<Vec<Listed>, ValidationError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("user_id,") {
            continue;
        }
        match parse_line(line) {
            Some(entry) => out.push(entry),
            None => {
                return Err(ValidationError::new(
                    "entries",
                    format!(
                        "line {} is not user_id,quantity[,rank,status]: {line}",
                        n + 1
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// `user_id,quantity` or `user_id,quantity,rank,status` (an empty rank for none).
fn parse_line(line: &str) -> Option<Listed> {
    let fields: Vec<&str> = line.split(',').map(str::trim).collect();
    let (rank, status) = match fields.len() {
        2 => (None, None),
        4 if fields[2].is_empty() => (None, Some(fields[3])),
        4 => (Some(fields[2].parse().ok()?), Some(fields[3])),
        _ => return None,
    };
    Some(Listed {
        user_id: fields[0].parse().ok()?,
        quantity: fields[1].parse().ok()?,
        rank,
        status: status.filter(|s| !s.is_empty()).map(str::to_owned),
    })
}

fn from_json(text: &str) -> Result<Vec<Listed>, ValidationError> {
    let mut out = Vec::new();
    for doc in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| ValidationError::new("entries", format!("bad JSON: {e}")))?;
        collect(&doc, &mut out)?;
    }
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<Listed>) -> Result<(), ValidationError> {
    if let Some(items) = v.get("items").and_then(|i| i.as_array()) {
        for item in items {
            collect(item, out)?;
        }
    } else if let Some(all) = v.as_array() {
        for item in all {
            collect(item, out)?;
        }
    } else {
        let field = |name: &str| v.get(name).and_then(Value::as_i64);
        let bad = |what: &str| ValidationError::new("entries", format!("an entry {what}: {v}"));
        let (Some(user_id), Some(quantity)) = (field("user_id"), field("quantity")) else {
            return Err(bad("without user_id and quantity"));
        };
        let rank = match v.get("rank") {
            None | Some(Value::Null) => None,
            Some(r) => Some(
                r.as_i64()
                    .ok_or_else(|| bad("whose rank is not a number"))?,
            ),
        };
        let status = match v.get("status") {
            None | Some(Value::Null) => None,
            Some(s) => Some(s.as_str().ok_or_else(|| bad("whose status is not text"))?),
        };
        out.push(Listed {
            user_id,
            quantity,
            rank,
            status: status.map(str::to_owned),
        });
    }
    Ok(())
}

/// A saved `GET /products/{id}/draw` document: what the draw published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrawDoc {
    /// `OPEN`, `CLOSED` or `DRAWN`.
    pub status: Option<String>,
    /// The revealed seed.
    pub seed: Option<String>,
    /// The seed's published hash.
    pub seed_hash: Option<String>,
    /// The published digest of the entries that took part.
    pub entries_digest: Option<String>,
    /// How many entries took part.
    pub entries: Option<i64>,
    /// The units drawn for.
    pub units: Option<i64>,
}

/// Reads a saved draw document; refuses one whose draw has not run.
pub fn parse_draw(text: &str) -> Result<DrawDoc, ValidationError> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| ValidationError::new("draw", format!("bad JSON: {e}")))?;
    if !v.is_object() {
        return Err(ValidationError::new(
            "draw",
            "not a draw document (a JSON object)",
        ));
    }
    let text = |name: &str| v.get(name).and_then(Value::as_str).map(str::to_owned);
    let number = |name: &str| v.get(name).and_then(Value::as_i64);
    let doc = DrawDoc {
        status: text("status"),
        seed: text("seed"),
        seed_hash: text("seed_hash"),
        entries_digest: text("entries_digest"),
        entries: number("entries"),
        units: number("units"),
    };
    match doc.status.as_deref() {
        None | Some("DRAWN") => Ok(doc),
        Some(other) => Err(ValidationError::new(
            "draw",
            format!("the draw has not run (status {other}): there is nothing to verify yet"),
        )),
    }
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
        let labelled = "user_id,quantity,rank,status\n2,1,1,WON\n3,2,,WITHDRAWN\n";
        assert_eq!(parse_entries(labelled).unwrap(), [(2, 1)]);
        assert_eq!(
            parse_listed(labelled).unwrap()[1],
            Listed {
                user_id: 3,
                quantity: 2,
                rank: None,
                status: Some("WITHDRAWN".into())
            }
        );
        assert!(parse_entries("1,1,x,WON\n").is_err());
    }
}
