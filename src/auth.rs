//! Tokens: HS256 JWTs whose claims carry a role, and the principal they stand for.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

use crate::domain::ids::{BrandId, UserId};

/// The claims of a dropline token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// For users, the user id as a decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `admin`, `brand` or `user`.
    pub role: String,
    /// For brands, the brand id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_id: Option<i64>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// Who a valid token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// A platform operator: may do everything.
    Admin,
    /// A brand: its own products and their rounds.
    Brand(BrandId),
    /// A buyer: its own subscriptions and orders.
    User(UserId),
}

/// Why a token was refused (all of them are a 401 to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, expired, malformed.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// Well-signed but the claims do not describe a principal.
    #[error("token claims are incomplete: {0}")]
    Claims(&'static str),
}

/// Signs and checks tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret never reaches a log line.
        f.write_str("TokenKeys(..)")
    }
}

impl TokenKeys {
    /// Keys for `secret`.
    ///
    /// Times are checked without leeway (RFC 7519): a token is valid from its `nbf`, when it
    /// has one, until the second before its `exp`.
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        validation.validate_nbf = true;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Mints a token for `principal`, valid for `ttl`.
    pub fn mint(&self, principal: Principal, ttl: Duration) -> Result<String, TokenError> {
        let exp = jsonwebtoken::get_current_timestamp().saturating_add(ttl.as_secs());
        let claims = match principal {
            Principal::Admin => Claims {
                sub: None,
                role: "admin".into(),
                brand_id: None,
                exp,
            },
            Principal::Brand(b) => Claims {
                sub: None,
                role: "brand".into(),
                brand_id: Some(b.get()),
                exp,
            },
            Principal::User(u) => Claims {
                sub: Some(u.get().to_string()),
                role: "user".into(),
                brand_id: None,
                exp,
            },
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or odd tokens).
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// Checks a token and says whom it speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        self.verify_until(token).map(|(principal, _)| principal)
    }

    /// Checks a token and says whom it speaks for and until when (its `exp`, seconds since
    /// the epoch), for answers that last longer than one request.
    pub fn verify_until(&self, token: &str) -> Result<(Principal, u64), TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        // RFC 7515 §4.1.11: a header that names critical extensions must be refused unless
        // they are all understood, and no extension is understood here.
        if names_critical_extensions(token) {
            return Err(TokenError::Invalid(
                "the header names critical extensions (crit)".into(),
            ));
        }
        let c = data.claims;
        // The library accepts `exp == now`; RFC 7519 wants now strictly before `exp`.
        if c.exp <= jsonwebtoken::get_current_timestamp() {
            return Err(TokenError::Invalid("the token has expired".into()));
        }
        let principal = match c.role.as_str() {
            "admin" => Ok(Principal::Admin),
            "brand" => c
                .brand_id
                .and_then(|b| BrandId::try_from(b).ok())
                .map(Principal::Brand)
                .ok_or(TokenError::Claims("brand_id")),
            "user" => c
                .sub
                .as_deref()
                .and_then(parse_user_sub)
                .map(Principal::User)
                .ok_or(TokenError::Claims("sub")),
            _ => Err(TokenError::Claims("role")),
        }?;
        Ok((principal, c.exp))
    }
}

/// Whether the token's header has a `crit` member, whatever its value (a token that got this
/// far has a readable header).
fn names_critical_extensions(token: &str) -> bool {
    use base64::Engine;
    let header = token.split('.').next().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|raw| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&raw).ok()
        })
        .is_none_or(|members| members.contains_key("crit"))
}

/// A user's `sub`: the canonical decimal spelling of a positive id, nothing else ("5", never
/// "+5", "05", " 5" or "0"), so one user has exactly one spelling.
fn parse_user_sub(raw: &str) -> Option<UserId> {
    let canonical = raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    if !canonical {
        return None;
    }
    raw.parse::<i64>()
        .ok()
        .and_then(|u| UserId::try_from(u).ok())
}

/// Parses a TTL such as `1h`, `30m` or `90s`.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    humantime::parse_duration(raw).map_err(|e| format!("invalid duration {raw:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_to_their_principal() {
        let keys = TokenKeys::new(b"secret");
        for p in [
            Principal::Admin,
            Principal::Brand(BrandId::from_db(3)),
            Principal::User(UserId::from_db(42)),
        ] {
            let t = keys.mint(p, Duration::from_secs(60)).unwrap();
            assert_eq!(keys.verify(&t), Ok(p));
        }
    }

    #[test]
    fn tokens_from_another_secret_or_expired_are_refused() {
        let keys = TokenKeys::new(b"secret");
        let other = TokenKeys::new(b"other")
            .mint(Principal::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(keys.verify(&other).is_err());
        // Claims with a role and an expiry only, signed with `keys`.
        let signed = |role: &str, exp: u64| {
            keys.sign(&Claims {
                sub: None,
                role: role.into(),
                brand_id: None,
                exp,
            })
            .unwrap()
        };
        assert!(keys.verify(&signed("admin", 1)).is_err());
        assert_eq!(
            keys.verify(&signed("user", u64::MAX / 2)),
            Err(TokenError::Claims("sub"))
        );
    }

    #[test]
    fn a_user_sub_is_a_canonical_positive_decimal() {
        assert_eq!(parse_user_sub("5"), Some(UserId::from_db(5)));
        assert_eq!(parse_user_sub("120"), Some(UserId::from_db(120)));
        for bad in [
            "", "0", "00", "005", "+5", "-1", " 5", "5 ", "5.0", "1e3", "９",
        ] {
            assert_eq!(parse_user_sub(bad), None, "{bad:?}");
        }
        assert_eq!(parse_user_sub("9223372036854775808"), None);
    }
}
