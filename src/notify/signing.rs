//! Signed notifications per Standard Webhooks: the signing secrets, the signature of one
//! request, and its verification (shared by the mock receiver and `dropline webhook verify`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of every secret.
const PREFIX: &str = "whsec_";
/// Fewest and most decoded bytes of one secret.
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// One or more signing secrets (several while rotating); `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeys(Vec<Vec<u8>>);

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKeys({} secret(s), redacted)", self.0.len())
    }
}

/// Why a configured secret was refused; the message never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// Nothing but spaces.
    #[error("no secret given")]
    Empty,
    /// A secret does not start with `whsec_`.
    #[error("secret number {0} does not start with `whsec_`")]
    Prefix(usize),
    /// A secret's tail is not standard base64.
    #[error("secret number {0} is not `whsec_` followed by standard base64")]
    Base64(usize),
    /// A secret decodes to too few or too many bytes.
    #[error("secret number {0} decodes to {1} bytes; 24 to 64 are needed")]
    Length(usize, usize),
}

impl SigningKeys {
    /// Parses `whsec_<base64>` secrets separated by spaces.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let mut keys = Vec::new();
        for (i, secret) in text.split_whitespace().enumerate() {
            let n = i + 1;
            let tail = secret.strip_prefix(PREFIX).ok_or(SecretError::Prefix(n))?;
            let key = STANDARD.decode(tail).map_err(|_| SecretError::Base64(n))?;
            if !KEY_BYTES.contains(&key.len()) {
                return Err(SecretError::Length(n, key.len()));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(keys))
    }

    /// The `webhook-signature` value: `v1,<base64>` per secret, separated by spaces.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        self.0
            .iter()
            .map(|key| format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body))))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether any `v1` signature in `header` matches any of these secrets.
    pub fn verify(&self, id: &str, timestamp: i64, header: &str, body: &[u8]) -> bool {
        header
            .split_whitespace()
            .filter_map(|sig| sig.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|given| {
                self.0.iter().any(|key| {
                    hmac_for(key, id, timestamp, body)
                        .map(|m| m.verify_slice(&given).is_ok())
                        .unwrap_or(false)
                })
            })
    }
}

fn hmac_for(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(m)
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    hmac_for(key, id, timestamp, body)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::notify::signing::*;

    fn secret(bytes: usize, fill: u8) -> String {
        format!("whsec_{}", STANDARD.encode(vec![fill; bytes]))
    }

    #[test]
    fn secrets_are_checked_without_showing_them() {
        assert_eq!(SigningKeys::parse("  "), Err(SecretError::Empty));
        assert_eq!(SigningKeys::parse("abc"), Err(SecretError::Prefix(1)));
        let good = secret(24, 1);
        assert_eq!(
            SigningKeys::parse(&format!("{good} whsec_!!")),
            Err(SecretError::Base64(2))
        );
        assert_eq!(
            SigningKeys::parse(&secret(23, 1)),
            Err(SecretError::Length(1, 23))
        );
        assert_eq!(
            SigningKeys::parse(&secret(65, 1)),
            Err(SecretError::Length(1, 65))
        );
        let keys = SigningKeys::parse(&format!("{good} {}", secret(64, 2))).unwrap();
        assert_eq!(format!("{keys:?}"), "SigningKeys(2 secret(s), redacted)");
    }

    #[test]
    fn each_secret_signs_and_any_one_verifies() {
        let old = SigningKeys::parse(&secret(32, 7)).unwrap();
        let both = SigningKeys::parse(&format!("{} {}", secret(32, 7), secret(32, 9))).unwrap();
        let header = both.sign("1-1-1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert!(old.verify("1-1-1", 1_700_000_000, &header, b"{}"));
        assert!(!old.verify("1-1-1", 1_700_000_001, &header, b"{}"));
        assert!(!old.verify("1-1-1", 1_700_000_000, &header, b"{ }"));
        assert!(!old.verify("1-1-1", 1_700_000_000, "v1,AAAA", b"{}"));
    }
}
