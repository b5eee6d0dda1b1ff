//! The values a buyer sends with an order, checked: its quantity, its retry key and the
//! payment reference.

use serde::{Deserialize, Serialize};

use crate::domain::ValidationError;

/// Units in one order: 1..=1000 (read back unchecked only from a body dropline wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Quantity(i64);

impl Quantity {
    /// Wraps a stored value.
    pub fn from_db(raw: i64) -> Self {
        Self(raw)
    }

    /// The count.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Quantity {
    type Error = ValidationError;
    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        if (1..=1000).contains(&raw) {
            Ok(Self(raw))
        } else {
            Err(ValidationError::new(
                "quantity",
                "must be between 1 and 1000",
            ))
        }
    }
}

/// Declares a text value checked on the way in: `as_str` gives it back, and `TryFrom<&str>`
/// keeps what `$keep` answers for the raw text, or refuses it as a bad `field` with `message`.
macro_rules! checked_text {
    ($(#[$meta:meta])* $name:ident, $field:literal, $message:literal, $keep:expr) => {
        $(#[$meta])*
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(raw: &str) -> Result<Self, Self::Error> {
                let keep: fn(&str) -> Option<&str> = $keep;
                keep(raw)
                    .map(|t| Self(t.to_owned()))
                    .ok_or_else(|| ValidationError::new($field, $message))
            }
        }
    };
}

checked_text!(
    /// A client's key for retrying an order safely: 1..=64 visible ASCII characters.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    IdempotencyKey,
    "Idempotency-Key",
    "must be 1 to 64 visible ASCII characters",
    |raw| {
        let fits = !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_graphic());
        fits.then_some(raw)
    }
);

checked_text!(
    /// A payment reference from the payment provider: 1..=200 visible characters.
    #[derive(Debug, Clone, PartialEq, Eq)]
    PaymentRef,
    "payment_ref",
    "must be 1 to 200 characters without control characters",
    |raw| {
        let t = raw.trim();
        let fits = !t.is_empty() && t.chars().count() <= 200 && !t.chars().any(char::is_control);
        fits.then_some(t)
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_visible_ascii_up_to_64() {
        assert!(IdempotencyKey::try_from("abc-123").is_ok());
        assert!(IdempotencyKey::try_from("").is_err());
        assert!(IdempotencyKey::try_from("a b").is_err());
        assert!(IdempotencyKey::try_from("é").is_err());
        assert!(IdempotencyKey::try_from("x".repeat(65).as_str()).is_err());
    }

    #[test]
    fn quantities_are_bounded() {
        assert!(Quantity::try_from(0).is_err());
        assert!(Quantity::try_from(1001).is_err());
        assert_eq!(Quantity::try_from(3).map(Quantity::get), Ok(3));
    }
}
