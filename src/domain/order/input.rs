//! The values a buyer sends with an order, checked: its quantity, its retry key and the
//! payment reference.

use serde::Serialize;

use crate::domain::ValidationError;

/// Units in one order: 1..=1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

/// A client's key for retrying an order safely: 1..=64 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for IdempotencyKey {
    type Error = ValidationError;
    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        if raw.is_empty() || raw.len() > 64 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "Idempotency-Key",
                "must be 1 to 64 visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A payment reference from the payment provider: 1..=200 visible characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRef(String);

impl PaymentRef {
    /// The reference as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for PaymentRef {
    type Error = ValidationError;
    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        let t = raw.trim();
        if t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "payment_ref",
                "must be 1 to 200 characters without control characters",
            ));
        }
        Ok(Self(t.to_owned()))
    }
}

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
