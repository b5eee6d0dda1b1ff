//! Typed identifiers, so a product id is never passed where a user id belongs.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::ValidationError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The raw value, for storage and wire formats.
            pub fn get(self) -> i64 {
                self.0
            }

            /// Wraps a value read back from storage, where it was validated on the way in.
            pub fn from_db(raw: i64) -> Self {
                Self(raw)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = ValidationError;
            fn try_from(raw: i64) -> Result<Self, Self::Error> {
                if raw > 0 {
                    Ok(Self(raw))
                } else {
                    Err(ValidationError::new($field, "must be a positive integer"))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A brand's id.
    BrandId, "brand_id"
);
id_type!(
    /// A product's id.
    ProductId, "product_id"
);
id_type!(
    /// A buyer's id (the `sub` claim of a user token).
    UserId, "user_id"
);
id_type!(
    /// An order's id.
    OrderId, "order_id"
);
