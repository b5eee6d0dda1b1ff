//! Draw sales in the shop: the secret seed a draw product is created with. The draw
//! worker, which notifies the winners, is `shop::draw_worker`.

use crate::domain::draw::hex;

/// The OS random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the OS random source failed: {0}")]
pub struct SeedError(String);

/// A fresh secret seed: 32 bytes from the OS, as 64 lowercase hex digits.
pub fn new_seed() -> Result<String, SeedError> {
    use rand::TryRngCore;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| SeedError(e.to_string()))?;
    Ok(hex(&bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_are_64_lowercase_hex_digits_and_differ() {
        let (a, b) = (super::new_seed().unwrap(), super::new_seed().unwrap());
        assert!(crate::domain::draw::is_seed(&a));
        assert_ne!(a, b);
    }
}
