//! Work done in bounded batches until a short one shows nothing is left.

use crate::store::StoreResult;

/// Runs `step` (which answers how many it did, at most `batch`) until one does fewer than
/// `batch`; answers how many they did together.
pub async fn until_short<F, Fut>(batch: i64, mut step: F) -> StoreResult<usize>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<usize>>,
{
    let mut total = 0;
    loop {
        let n = step().await?;
        total += n;
        if (n as i64) < batch {
            return Ok(total);
        }
    }
}
