//! Brands: the camping and fashion labels that release collaborations.

use serde::Serialize;
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use super::ValidationError;
use super::ids::BrandId;

named_setting! {
    /// What a brand makes.
    pub enum BrandCategory for "category", "must be one of camping, fashion, other" {
        /// Outdoor and camping gear.
        Camping = "camping",
        /// Clothing and accessories.
        Fashion = "fashion",
        /// Anything else; what an unknown stored spelling reads as.
        #[default]
        Other = "other",
    }
}

/// A stored brand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brand {
    /// Its id.
    pub id: BrandId,
    /// Its display name.
    pub name: String,
    /// What it makes.
    pub category: BrandCategory,
}

/// A brand to create, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBrand {
    /// Its display name (1..=200 characters, trimmed).
    pub name: Name,
    /// What it makes.
    pub category: BrandCategory,
}

/// A display name: trimmed, 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(String);

impl Name {
    /// Most characters a name may have.
    pub const MAX_CHARS: usize = 200;

    /// Validates a name for `field`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::new(
                field,
                "must be at most 200 characters",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        if !trimmed.chars().any(is_visible) {
            return Err(ValidationError::new(
                field,
                "must contain at least one visible character",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether `c` shows on its own: a letter, number, punctuation mark or symbol. Spaces, format
/// characters (zero-width space, joiners, the byte-order mark), marks that only decorate
/// another character, private-use and unassigned code points do not, nor do the letters and
/// symbols that are drawn as blanks (the Hangul fillers, the blank Braille pattern).
fn is_visible(c: char) -> bool {
    const BLANKS: [char; 5] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{2800}'];
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    ) && !BLANKS.contains(&c)
}

/// Validates a collaboration's brand list: 1..=10 distinct positive ids, returned ascending.
pub fn parse_brand_ids(raw: &[i64]) -> Result<Vec<BrandId>, ValidationError> {
    if raw.is_empty() || raw.len() > 10 {
        return Err(ValidationError::new(
            "brand_ids",
            "must list between 1 and 10 brands",
        ));
    }
    let mut ids = raw
        .iter()
        .map(|id| {
            BrandId::try_from(*id)
                .map_err(|_| ValidationError::new("brand_ids", "must hold positive ids"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    ids.dedup();
    if ids.len() != raw.len() {
        return Err(ValidationError::new("brand_ids", "must not repeat a brand"));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_needs_a_visible_character() {
        for invisible in [
            "\u{200B}",
            "\u{FEFF}",
            "\u{200C}\u{200D}",
            " \u{2060} \u{00AD} ",
            "\u{3164}",
            "\u{2800}",
            "\u{0301}",
            "\u{E000}",
        ] {
            let err = Name::parse("name", invisible).unwrap_err();
            assert_eq!(err.field, "name", "{invisible:?}");
        }
        for visible in [
            "Kith",
            "키스",
            "\u{200B}K",
            "4",
            "&",
            "\u{1F3D5}\u{FE0F}",
            "e\u{0301}",
        ] {
            assert_eq!(Name::parse("name", visible).unwrap().as_str(), visible);
        }
    }
}
