//! Retries of a failed send, shared by restock alerts, claim alerts and win notifications:
//! which failures are retried, how often, and the capped full-jitter delay before each.

use std::time::Duration;

use super::channel::SendError;
use super::parts::EngineConfig;

/// Delay before retry number `retry` (1-based): a random time up to `base` × 2^(retry-1)
/// (full jitter, so retries of many requests spread out instead of arriving together), at
/// least what the provider asked, and never more than `max`.
pub(crate) fn backoff(
    base: Duration,
    max: Duration,
    retry: u32,
    asked: Option<Duration>,
    rng: &mut impl rand::Rng,
) -> Duration {
    let ceiling = base
        .saturating_mul(1_u32 << retry.saturating_sub(1).min(16))
        .min(max);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(rng.random_range(0..=ceiling_ms));
    jittered.max(asked.unwrap_or_default()).min(max)
}

/// After a failed send, counted in `retries`: how long to wait before trying again, or, when
/// the failure is permanent or the retries have run out, why to give up.
pub(crate) fn retry_delay(
    config: &EngineConfig,
    retries: &mut u32,
    failure: SendError,
) -> Result<Duration, String> {
    match failure {
        SendError::Permanent(reason) => Err(reason),
        SendError::Retryable {
            reason,
            retry_after,
            ..
        } => {
            if *retries >= config.max_retries {
                return Err(format!(
                    "{reason} (gave up after {} attempts)",
                    *retries + 1
                ));
            }
            *retries += 1;
            Ok(backoff(
                config.backoff,
                config.backoff_max,
                *retries,
                retry_after,
                &mut rand::rng(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::retry::backoff;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    const BASE: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(1);

    /// The delays of 2,000 draws of retry `retry`, from a fixed seed.
    fn draws(retry: u32, asked: Option<Duration>) -> Vec<Duration> {
        let mut rng = StdRng::seed_from_u64(14);
        (0..2000)
            .map(|_| backoff(BASE, MAX, retry, asked, &mut rng))
            .collect()
    }

    #[test]
    fn backoff_is_fully_jittered_below_a_doubling_ceiling() {
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 400), (4, 800)] {
            let d = draws(retry, None);
            let ceiling = Duration::from_millis(ceiling);
            assert!(d.iter().all(|x| *x <= ceiling), "retry {retry}");
            // Full jitter: the draws cover the range from near 0 to near the ceiling.
            assert!(d.iter().any(|x| *x < ceiling / 10), "retry {retry}");
            assert!(d.iter().any(|x| *x > ceiling * 9 / 10), "retry {retry}");
            let distinct: std::collections::HashSet<_> = d.iter().collect();
            assert!(distinct.len() > 50, "retry {retry}");
        }
    }

    #[test]
    fn backoff_never_passes_the_maximum() {
        for retry in [5, 9, 17, 40, u32::MAX] {
            let d = draws(retry, None);
            assert!(d.iter().all(|x| *x <= MAX), "retry {retry}");
            assert!(d.iter().any(|x| *x > MAX * 9 / 10), "retry {retry}");
        }
    }

    #[test]
    fn backoff_waits_at_least_what_retry_after_asks_up_to_the_maximum() {
        let asked = Duration::from_millis(700);
        assert!(draws(1, Some(asked)).iter().all(|x| *x == asked));
        assert!(
            draws(4, Some(asked))
                .iter()
                .all(|x| *x >= asked && *x <= MAX)
        );
        let too_long = Some(Duration::from_secs(3600));
        assert!(draws(2, too_long).iter().all(|x| *x == MAX));
    }
}
