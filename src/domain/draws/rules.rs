//! The verifiable rules of a draw: the seed and its published hash, the rank keys, the
//! entries digest, and the walk down the ranks that picks the winners.
//!
//! The seed is 64 lowercase hex digits; `seed_hash` is published before the window opens.
//! An entry's rank follows the ascending SHA-256 of `"{seed}:{user_id}"`; going down the
//! ranks, an entry wins when its whole quantity fits in the units left.

use sha2::{Digest, Sha256};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0xf) as usize] as char);
    }
    out
}

/// Lowercase hex SHA-256 of `text`.
pub fn sha256_hex(text: &[u8]) -> String {
    hex(&Sha256::digest(text))
}

/// The published commitment to a seed: SHA-256 of its 64 ASCII characters.
pub fn seed_hash(seed: &str) -> String {
    sha256_hex(seed.as_bytes())
}

/// The key ranks follow (ascending): SHA-256 of `"{seed}:{user_id}"`.
pub fn rank_key(seed: &str, user: i64) -> String {
    sha256_hex(format!("{seed}:{user}").as_bytes())
}

/// Whether `raw` is a seed: 64 lowercase hex digits.
pub fn is_seed(raw: &str) -> bool {
    raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Digest of the entries that took part: SHA-256 of `"{user_id}:{quantity}\n"` lines by
/// ascending user id. `entries` must already be in that order.
pub fn entries_digest(entries: impl IntoIterator<Item = (i64, i64)>) -> String {
    let mut d = EntriesDigest::default();
    for (user, quantity) in entries {
        d.add(user, quantity);
    }
    d.finish()
}

/// [`entries_digest`] fed one entry at a time (by ascending user id).
#[derive(Default)]
pub struct EntriesDigest {
    hash: Sha256,
    count: i64,
}

impl EntriesDigest {
    /// Adds the next entry.
    pub fn add(&mut self, user: i64, quantity: i64) {
        self.hash.update(format!("{user}:{quantity}\n").as_bytes());
        self.count += 1;
    }

    /// Entries added so far.
    pub fn count(&self) -> i64 {
        self.count
    }

    /// The lowercase hex digest.
    pub fn finish(self) -> String {
        hex(&self.hash.finalize())
    }
}

/// Walks entries in rank order with `units` free: answers, per entry, whether it wins.
/// An entry whose quantity does not fit is passed over and the walk goes on.
pub fn pick(quantities: impl IntoIterator<Item = i64>, units: i64) -> (Vec<bool>, i64) {
    let mut left = units;
    let won = quantities
        .into_iter()
        .map(|q| {
            if q <= left {
                left -= q;
                true
            } else {
                false
            }
        })
        .collect();
    (won, left)
}

/// One entry of a recomputed draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    /// 1-based rank.
    pub rank: i64,
    /// The user.
    pub user_id: i64,
    /// Units asked for.
    pub quantity: i64,
    /// The rank key.
    pub key: String,
    /// Whether it wins with the units given.
    pub won: bool,
}

/// Recomputes a whole draw from the seed, the entries `(user_id, quantity)` and the units.
pub fn recompute(seed: &str, entries: &[(i64, i64)], units: i64) -> (Vec<Ranked>, String) {
    let mut by_user = entries.to_vec();
    by_user.sort_unstable();
    let digest = entries_digest(by_user.iter().copied());
    let mut keyed: Vec<(String, i64, i64)> = by_user
        .into_iter()
        .map(|(u, q)| (rank_key(seed, u), u, q))
        .collect();
    keyed.sort_unstable();
    let (won, _) = pick(keyed.iter().map(|k| k.2), units);
    let ranked = keyed
        .into_iter()
        .zip(won)
        .enumerate()
        .map(|(i, ((key, user_id, quantity), won))| Ranked {
            rank: i as i64 + 1,
            user_id,
            quantity,
            key,
            won,
        })
        .collect();
    (ranked, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_that_does_not_fit_is_passed_over_and_later_ones_may_win() {
        let (won, left) = pick([2, 3, 1, 1], 4);
        assert_eq!(won, [true, false, true, true]);
        assert_eq!(left, 0);
    }

    #[test]
    fn the_seed_hash_and_rank_keys_are_lowercase_hex_sha256() {
        // SHA-256 of the empty string.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let seed = "0".repeat(64);
        assert!(is_seed(&seed));
        assert!(!is_seed("0A"));
        assert_eq!(
            rank_key(&seed, 7),
            sha256_hex(format!("{seed}:7").as_bytes())
        );
        assert_eq!(entries_digest([(1, 2)]), sha256_hex(b"1:2\n"));
    }
}
