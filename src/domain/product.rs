//! Limited-edition products and the rules for creating and changing them.

use chrono::{DateTime, Utc};

use super::ValidationError;
use super::brand::{Name, parse_brand_ids};
use super::claim::AlertSettings;
use super::draws::SaleMode;
use super::ids::{BrandId, ProductId};
use super::queue::QueueSettings;

named_setting! {
    /// How each restock round walks the line.
    pub enum LinePolicy for "line_policy", "must be restart or rotate" {
        /// Every round starts at the front of the line.
        #[default]
        Restart = "restart",
        /// A round starts where the previous sold-out round stopped and wraps around.
        Rotate = "rotate",
    }
}

/// A stored product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its display name.
    pub name: String,
    /// The brands of the collaboration, ascending.
    pub brand_ids: Vec<BrandId>,
    /// Price in minor units (KRW).
    pub price: i64,
    /// Units free to order now.
    pub stock: i64,
    /// The latest restock round opened (0 before the first).
    pub restock_round: i64,
    /// When the sale opens, if set.
    pub sale_starts_at: Option<DateTime<Utc>>,
    /// When the sale closes, if set.
    pub sale_ends_at: Option<DateTime<Utc>>,
    /// Most units one user may hold (RESERVED + PAID).
    pub per_user_limit: i64,
    /// How long an order holds its stock for payment.
    pub hold_seconds: i64,
    /// How rounds walk the line.
    pub line_policy: LinePolicy,
    /// How the product is sold.
    pub sale_mode: SaleMode,
    /// SHA-256 of the draw's secret seed; None unless sold by draw.
    pub draw_seed_hash: Option<String>,
    /// How its restock rounds alert the line.
    pub alert: AlertSettings,
    /// Its waiting room.
    pub queue: QueueSettings,
    /// SHA-256 of the room's secret seed; None unless the room is enabled.
    pub queue_seed_hash: Option<String>,
    /// The room's secret seed: published only once the sale has started.
    pub queue_seed: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Product {
    /// Whether `brand` is one of this product's brands.
    pub fn is_owned_by(&self, brand: BrandId) -> bool {
        self.brand_ids.contains(&brand)
    }
}

/// The sale settings shared by creation and patching, validated together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleSettings {
    /// Price in minor units, >= 0.
    pub price: i64,
    /// When the sale opens.
    pub sale_starts_at: Option<DateTime<Utc>>,
    /// When the sale closes; after `sale_starts_at`.
    pub sale_ends_at: Option<DateTime<Utc>>,
    /// 1..=1000.
    pub per_user_limit: i64,
    /// 5..=86400.
    pub hold_seconds: i64,
    /// Line policy.
    pub line_policy: LinePolicy,
    /// How the product is sold; a draw needs both ends of the window.
    pub sale_mode: SaleMode,
}

impl SaleSettings {
    /// Default `per_user_limit`.
    pub const DEFAULT_PER_USER_LIMIT: i64 = 1;
    /// Default `hold_seconds` (30 minutes).
    pub const DEFAULT_HOLD_SECONDS: i64 = 1800;

    /// Checks every rule on the settings.
    pub fn validate(self) -> Result<Self, ValidationError> {
        super::clock::check_client_time("sale_starts_at", self.sale_starts_at)?;
        super::clock::check_client_time("sale_ends_at", self.sale_ends_at)?;
        if self.price < 0 {
            return Err(ValidationError::new("price", "must be zero or more"));
        }
        if !(1..=1000).contains(&self.per_user_limit) {
            return Err(ValidationError::new(
                "per_user_limit",
                "must be between 1 and 1000",
            ));
        }
        if !(5..=86_400).contains(&self.hold_seconds) {
            return Err(ValidationError::new(
                "hold_seconds",
                "must be between 5 and 86400",
            ));
        }
        if self.sale_mode == SaleMode::Draw {
            if self.sale_starts_at.is_none() {
                return Err(ValidationError::new(
                    "sale_starts_at",
                    "is required when sale_mode is draw (the entry window opens then)",
                ));
            }
            if self.sale_ends_at.is_none() {
                return Err(ValidationError::new(
                    "sale_ends_at",
                    "is required when sale_mode is draw (the draw runs then)",
                ));
            }
        }
        if let (Some(start), Some(end)) = (self.sale_starts_at, self.sale_ends_at)
            && end <= start
        {
            return Err(ValidationError::new(
                "sale_ends_at",
                "must be after sale_starts_at",
            ));
        }
        Ok(self)
    }
}

/// Most units a single product may stock.
pub const MAX_STOCK: i64 = 1_000_000_000;

/// Checks a restock of `quantity` against [`MAX_STOCK`]: the units stocked after it, free
/// (`stock`) and held in orders (`held`), must stay within the maximum, so that no later
/// cancel or expiry can take the free stock past it either.
pub fn check_restock(stock: i64, held: i64, quantity: i64) -> Result<(), ValidationError> {
    let stocked = stock.saturating_add(held);
    if stocked.saturating_add(quantity) > MAX_STOCK {
        return Err(ValidationError::new(
            "quantity",
            format!(
                "would take the product past {MAX_STOCK} units stocked (it has {stocked}, free or in orders)"
            ),
        ));
    }
    Ok(())
}

/// A product to create, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Display name.
    pub name: Name,
    /// Distinct brand ids, ascending, at least one.
    pub brand_ids: Vec<BrandId>,
    /// Initial stock, 0..=MAX_STOCK.
    pub stock: i64,
    /// Sale settings.
    pub sale: SaleSettings,
    /// The draw's secret seed (64 lowercase hex digits), for a draw product.
    pub draw_seed: Option<String>,
    /// How its restock rounds alert the line.
    pub alert: AlertSettings,
    /// Its waiting room.
    pub queue: QueueSettings,
    /// The room's secret seed (64 lowercase hex digits), for a product with a room.
    pub queue_seed: Option<String>,
}

impl NewProduct {
    /// Validates the parts of a product that only creation has.
    pub fn parse(
        name: &str,
        brand_ids: &[i64],
        stock: i64,
        sale: SaleSettings,
    ) -> Result<Self, ValidationError> {
        let name = Name::parse("name", name)?;
        let brand_ids = parse_brand_ids(brand_ids)?;
        if !(0..=MAX_STOCK).contains(&stock) {
            return Err(ValidationError::new(
                "stock",
                "must be between 0 and 1000000000",
            ));
        }
        Ok(Self {
            name,
            brand_ids,
            stock,
            sale: sale.validate()?,
            draw_seed: None,
            alert: AlertSettings::default(),
            queue: QueueSettings::default(),
            queue_seed: None,
        })
    }
}

/// A validated change to a product: name and the sale settings, merged over the stored ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductChanges {
    /// New display name.
    pub name: Name,
    /// New sale settings.
    pub sale: SaleSettings,
    /// A fresh seed when the product becomes a draw product (else the stored one stays,
    /// and leaving draw mode clears it).
    pub draw_seed: Option<String>,
    /// New alert settings.
    pub alert: AlertSettings,
    /// New waiting-room settings.
    pub queue: QueueSettings,
    /// A fresh room seed when the room is enabled on a product that has none (else the
    /// stored one stays).
    pub queue_seed: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale() -> SaleSettings {
        SaleSettings {
            price: 1000,
            sale_starts_at: None,
            sale_ends_at: None,
            per_user_limit: 1,
            hold_seconds: 1800,
            line_policy: LinePolicy::Restart,
            sale_mode: SaleMode::FirstCome,
        }
    }

    #[test]
    fn a_product_needs_a_name_brands_and_sane_numbers() {
        assert_eq!(
            NewProduct::parse(" ", &[1], 1, sale()).unwrap_err().field,
            "name"
        );
        assert_eq!(
            NewProduct::parse("x", &[], 1, sale()).unwrap_err().field,
            "brand_ids"
        );
        assert_eq!(
            NewProduct::parse("x", &[1, 1], 1, sale())
                .unwrap_err()
                .field,
            "brand_ids"
        );
        assert_eq!(
            NewProduct::parse("x", &[1], -1, sale()).unwrap_err().field,
            "stock"
        );
        let bad = SaleSettings {
            hold_seconds: 4,
            ..sale()
        };
        assert_eq!(
            NewProduct::parse("x", &[1], 1, bad).unwrap_err().field,
            "hold_seconds"
        );
        let p = NewProduct::parse("Tent", &[2, 1], 5, sale()).unwrap();
        assert_eq!(p.brand_ids, vec![BrandId::from_db(1), BrandId::from_db(2)]);
    }

    #[test]
    fn a_restock_keeps_the_units_stocked_within_the_maximum() {
        assert_eq!(check_restock(MAX_STOCK - 10, 5, 5), Ok(()));
        assert_eq!(check_restock(0, 0, MAX_STOCK), Ok(()));
        assert_eq!(
            check_restock(MAX_STOCK - 10, 5, 6).unwrap_err().field,
            "quantity"
        );
        assert_eq!(
            check_restock(MAX_STOCK, 0, MAX_STOCK).unwrap_err().field,
            "quantity"
        );
    }

    #[test]
    fn a_draw_needs_both_ends_of_its_window() {
        let t = chrono::Utc::now();
        let draw = SaleSettings {
            sale_mode: SaleMode::Draw,
            sale_starts_at: Some(t),
            ..sale()
        };
        assert_eq!(draw.clone().validate().unwrap_err().field, "sale_ends_at");
        let no_start = SaleSettings {
            sale_starts_at: None,
            sale_ends_at: Some(t),
            ..draw.clone()
        };
        assert_eq!(no_start.validate().unwrap_err().field, "sale_starts_at");
        let full = SaleSettings {
            sale_ends_at: Some(t + chrono::Duration::seconds(1)),
            ..draw
        };
        assert!(full.validate().is_ok());
    }

    #[test]
    fn a_named_setting_is_spelled_alike_in_storage_and_in_json() {
        use crate::domain::brand::BrandCategory;
        let spelled = |json: serde_json::Value, stored: &str| assert_eq!(json, stored);
        for p in [LinePolicy::Restart, LinePolicy::Rotate] {
            spelled(serde_json::json!(p), p.as_str());
        }
        for m in [SaleMode::FirstCome, SaleMode::Draw] {
            spelled(serde_json::json!(m), m.as_str());
        }
        for c in [
            BrandCategory::Camping,
            BrandCategory::Fashion,
            BrandCategory::Other,
        ] {
            spelled(serde_json::json!(c), c.as_str());
        }
    }

    #[test]
    fn a_sale_must_end_after_it_starts() {
        let t = chrono::Utc::now();
        let bad = SaleSettings {
            sale_starts_at: Some(t),
            sale_ends_at: Some(t),
            ..sale()
        };
        assert_eq!(bad.validate().unwrap_err().field, "sale_ends_at");
    }
}
