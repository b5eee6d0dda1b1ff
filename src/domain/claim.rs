//! Claim rounds: a restock alert that comes with one unit set aside for the member it tells.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ValidationError;
use super::ids::{OrderId, ProductId, UserId};

named_setting! {
    /// What a restock round sends.
    pub enum AlertMode for "alert_mode", "must be broadcast or claim" {
        /// The round notifies the line until the stock sells out.
        #[default]
        Broadcast = "broadcast",
        /// The round notifies one member per free unit, each with a claim on one unit.
        Claim = "claim",
    }
}

/// How a product's restock rounds alert the line, validated together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertSettings {
    /// Broadcast or claim.
    pub alert_mode: AlertMode,
    /// How long a claim sets its unit aside, 5..=86400.
    pub claim_seconds: i64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            alert_mode: AlertMode::Broadcast,
            claim_seconds: Self::DEFAULT_CLAIM_SECONDS,
        }
    }
}

impl AlertSettings {
    /// Default `claim_seconds` (10 minutes).
    pub const DEFAULT_CLAIM_SECONDS: i64 = 600;

    /// Checks the claim time.
    pub fn validate(self) -> Result<Self, ValidationError> {
        if !(5..=86_400).contains(&self.claim_seconds) {
            return Err(ValidationError::new(
                "claim_seconds",
                "must be between 5 and 86400",
            ));
        }
        Ok(self)
    }
}

/// Where a claim is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClaimStatus {
    /// Its unit is set aside for the holder until it expires.
    Open,
    /// The holder ordered: the unit is in the order.
    Used,
    /// Not used in time: the unit went back.
    Expired,
    /// The holder left the line: the unit went back.
    Released,
}

impl ClaimStatus {
    /// The storage and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Used => "USED",
            Self::Expired => "EXPIRED",
            Self::Released => "RELEASED",
        }
    }

    /// Reads the stored spelling.
    pub fn from_db(raw: &str) -> Self {
        match raw {
            "USED" => Self::Used,
            "EXPIRED" => Self::Expired,
            "RELEASED" => Self::Released,
            _ => Self::Open,
        }
    }
}

/// One claim of a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Its id, in the order claims were made.
    pub id: i64,
    /// The product.
    pub product_id: ProductId,
    /// The round that made it.
    pub round: i64,
    /// Who holds it, and where they stood.
    pub holder: Holder,
    /// Where it is in its life.
    pub state: ClaimState,
}

/// The member a claim was given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    /// The member.
    pub user_id: UserId,
    /// 1-based place among the round's claims.
    pub position: i64,
    /// The member's line id when the claim was made.
    pub line_id: i64,
}

/// Where a claim is in its life, and until when its unit is set aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimState {
    /// Open, used, expired or released.
    pub status: ClaimStatus,
    /// When it was made (and its alert sent).
    pub created_at: DateTime<Utc>,
    /// Until when the unit is set aside.
    pub expires_at: DateTime<Utc>,
    /// The order it went into, once used.
    pub order_id: Option<OrderId>,
}

/// A round's claims by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClaimCounts {
    /// Units set aside now.
    pub open: i64,
    /// Claims that went into an order.
    pub used: i64,
    /// Claims not used in time.
    pub expired: i64,
    /// Claims whose holder left the line.
    pub released: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_seconds_must_lie_between_5_and_86400() {
        for ok in [5, 600, 86_400] {
            let s = AlertSettings {
                alert_mode: AlertMode::Claim,
                claim_seconds: ok,
            };
            assert_eq!(s.validate(), Ok(s));
        }
        for bad in [4, 0, -1, 86_401] {
            let s = AlertSettings {
                alert_mode: AlertMode::Claim,
                claim_seconds: bad,
            };
            assert_eq!(s.validate().unwrap_err().field, "claim_seconds");
        }
    }

    #[test]
    fn statuses_read_back_as_written() {
        for s in [
            ClaimStatus::Open,
            ClaimStatus::Used,
            ClaimStatus::Expired,
            ClaimStatus::Released,
        ] {
            assert_eq!(ClaimStatus::from_db(s.as_str()), s);
        }
    }
}
