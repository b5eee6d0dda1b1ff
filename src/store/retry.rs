//! Transactions that lose a lock race on MySQL / MariaDB are run again from the start. A
//! deadlock (error 1213) or a lock wait timeout (1205) rolls the loser back (InnoDB undoes a
//! deadlock victim whole; a timed-out statement is undone here with the rest of the
//! transaction when it is dropped), so a fresh try reads what the winner committed and
//! decides against it. Every write transaction of the store goes through [`lock_races`]; the
//! order batches use [`again`] with their own test. SQLite takes one write lock for the whole
//! database and never answers either error, so there it runs once.

use rand::Rng;
use sqlx::mysql::MySqlDatabaseError;
use std::future::Future;
use std::time::Duration;

use super::{StoreError, StoreResult};

/// Tries of one transaction before its caller is answered [`StoreError::Contended`].
pub(crate) const ATTEMPTS: u32 = 5;

/// The longest wait before the second try; it doubles with each further try.
const BACKOFF: Duration = Duration::from_millis(10);

/// The longest wait between two tries.
const BACKOFF_MAX: Duration = Duration::from_millis(160);

/// Whether `e` is MySQL's answer to a transaction that lost a lock race: a deadlock (1213)
/// or a lock wait timeout (1205).
pub(crate) fn lost_lock_race(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<MySqlDatabaseError>()
            .is_some_and(|m| is_race_number(m.number())),
        _ => false,
    }
}

/// MySQL's error numbers for a lost lock race: `ER_LOCK_DEADLOCK` and `ER_LOCK_WAIT_TIMEOUT`.
fn is_race_number(number: u16) -> bool {
    matches!(number, 1213 | 1205)
}

/// Whether a store error is a lost lock race (see [`lost_lock_race`]).
pub(crate) fn lost(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(d) if lost_lock_race(d))
}

/// The wait before try `attempt + 1`: full jitter, up to [`BACKOFF`] doubled per earlier
/// retry and at most [`BACKOFF_MAX`], so racing instances do not meet again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let cap = BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(BACKOFF_MAX);
    let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand::rng().random_range(0..=micros))
}

/// Runs `run` until it succeeds, fails in a way `retryable` does not accept, or has been
/// tried [`ATTEMPTS`] times; answers its last result.
pub(crate) async fn again<T, E, F, Fut>(
    what: &'static str,
    retryable: impl Fn(&E) -> bool,
    mut run: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match run().await {
            Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                tracing::debug!(error = %e, attempt, what, "a transaction lost a lock race; running it again");
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Runs the transaction `run` builds, again from the start after a lost lock race (up to
/// [`ATTEMPTS`] tries with a short jittered wait between them). A race still lost on the
/// last try answers [`StoreError::Contended`], which callers pass on as "try again".
pub(crate) async fn lock_races<T, F, Fut>(what: &'static str, run: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    match again(what, lost, run).await {
        Err(e) if lost(&e) => {
            tracing::warn!(error = %e, what, tries = ATTEMPTS, "a transaction kept losing lock races");
            Err(StoreError::Contended(what))
        }
        done => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A stand-in for a database error: retryable or not.
    #[derive(Debug, PartialEq)]
    struct Fake(bool);

    impl std::fmt::Display for Fake {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "fake error, retryable: {}", self.0)
        }
    }

    #[test]
    fn deadlocks_and_lock_wait_timeouts_are_lost_races_and_nothing_else_is() {
        assert!(is_race_number(1213));
        assert!(is_race_number(1205));
        assert!(!is_race_number(1062));
        assert!(!lost_lock_race(&sqlx::Error::RowNotFound));
        assert!(!lost(&StoreError::NotFound));
    }

    #[test]
    fn the_backoff_is_jittered_and_bounded() {
        for attempt in 1..10 {
            let cap = (BACKOFF * (1 << (attempt - 1).min(8))).min(BACKOFF_MAX);
            assert!(backoff(attempt) <= cap);
        }
        let waits: std::collections::HashSet<Duration> = (0..50).map(|_| backoff(3)).collect();
        assert!(waits.len() > 1, "the wait is not jittered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_transaction_that_lost_twice_is_run_a_third_time_and_succeeds() {
        let tries = AtomicU32::new(0);
        let done = again(
            "test",
            |e: &Fake| e.0,
            || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(Fake(true)),
                    _ => Ok(7),
                }
            },
        )
        .await;
        assert_eq!(done, Ok(7));
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_race_lost_on_every_try_ends_after_the_last_try_with_its_error() {
        let tries = AtomicU32::new(0);
        let done: Result<(), Fake> = again(
            "test",
            |e: &Fake| e.0,
            || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err(Fake(true))
            },
        )
        .await;
        assert_eq!(done, Err(Fake(true)));
        assert_eq!(tries.load(Ordering::SeqCst), ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_answered_at_once() {
        let tries = AtomicU32::new(0);
        let done: StoreResult<()> = lock_races("pay", || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::NotFound)
        })
        .await;
        assert!(matches!(done, Err(StoreError::NotFound)));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
