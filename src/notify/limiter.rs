//! The one global notification rate limit: a GCRA schedule without burst.
//!
//! Every start reserves the next slot of a shared schedule (`next`, advanced by one interval per
//! grant) and sleeps until it. The interval is a window (1 s plus a small margin for delivery
//! jitter) divided by N. A caller that comes back late (timers fire up to a couple of
//! milliseconds late) keeps its place in the schedule by less than one interval, so lateness
//! does not pile up and lower the rate, yet two starts never share a slot: there is no burst.
//! A log of the last N start times backs the schedule up: a start waits until the N-th previous
//! one is more than a window old, so no sliding second can hold more than N starts even when
//! late wake-ups bunch reserved slots together.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};

use crate::coord::rate_schedule::RedisSchedule;

/// Extra length of the guarded window, so jitter between here and the provider cannot squeeze
/// N + 1 arrivals into one of its seconds. Costs 0.5% of the rate.
pub const WINDOW_MARGIN: Duration = Duration::from_millis(5);

/// Shared pacing of every notification request start, retries included, of every product.
#[derive(Debug)]
pub struct Limiter {
    /// None when unlimited.
    pace: Option<Pace>,
    /// With several instances, the schedule lives in Redis and replaces the local one.
    shared: Option<RedisSchedule>,
}

#[derive(Debug)]
struct Pace {
    rate: usize,
    interval: Duration,
    /// How far behind "now" a reservation may be placed: just under one interval.
    slack: Duration,
    window: Duration,
    /// Guarded by its lock: every grant reads and advances both parts in one step.
    state: Mutex<Schedule>,
}

#[derive(Debug)]
struct Schedule {
    /// The next free slot of the GCRA schedule.
    next: Instant,
    /// The most recent start times, oldest first, at most `rate` of them.
    starts: VecDeque<Instant>,
}

impl Limiter {
    /// At most `per_second` starts in any sliding second; 0 means no limit (benchmarks only).
    pub fn new(per_second: u32) -> Self {
        if per_second == 0 {
            return Self::unlimited();
        }
        let rate = per_second as usize;
        let window = Duration::from_secs(1) + WINDOW_MARGIN;
        let interval = window / per_second;
        Self {
            pace: Some(Pace {
                rate,
                interval,
                slack: interval.saturating_sub(Duration::from_micros(1)),
                window,
                state: Mutex::new(Schedule {
                    next: Instant::now(),
                    starts: VecDeque::with_capacity(rate),
                }),
            }),
            shared: None,
        }
    }

    /// Paces by a schedule kept in Redis, shared by every instance; `per_second` 0 is unlimited.
    pub fn shared(schedule: RedisSchedule, per_second: u32) -> Self {
        if per_second == 0 {
            return Self::unlimited();
        }
        Self {
            pace: None,
            shared: Some(schedule),
        }
    }

    /// No pacing at all.
    pub fn unlimited() -> Self {
        Self {
            pace: None,
            shared: None,
        }
    }

    /// The configured rate per second, None when unlimited.
    pub fn rate(&self) -> Option<usize> {
        match &self.shared {
            Some(s) => Some(s.rate() as usize),
            None => self.pace.as_ref().map(|p| p.rate),
        }
    }

    /// Waits for this caller's turn to start one request: the next slot of the schedule, then
    /// the window check, which records the start; answers the slot. `previous` is the slot
    /// of the caller's last start when it went straight on from it (nothing waited for since):
    /// its own late wake-up is then not idle time, so it takes the slot after that one, as
    /// it would have had it reserved ahead. Dropping the future gives up the turn (its slot
    /// stays unused, which only ever lowers the rate).
    pub async fn acquire(&self, previous: Option<Instant>) -> Instant {
        if let Some(schedule) = &self.shared {
            // The shared schedule is reserved and checked in Redis, in one step.
            acquire_shared(schedule).await;
            return Instant::now();
        }
        let Some(pace) = &self.pace else {
            return Instant::now();
        };
        let slot = pace.reserve(previous);
        sleep_until(slot).await;
        pace.admit().await;
        slot
    }
}

/// Takes the next slot of the shared schedule and sleeps until it. While Redis does not
/// answer nothing starts: the limit holds even then, at the cost of pausing the rounds.
async fn acquire_shared(schedule: &RedisSchedule) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let taken = match schedule.take().await {
            Ok(slot) => {
                tokio::time::sleep(slot.wait).await;
                schedule.confirm().await
            }
            Err(e) => Err(e),
        };
        match taken {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "Failed to take a slot of the shared notification schedule");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

impl Pace {
    /// Reserves the next slot of the schedule without waiting: at most one interval behind
    /// now (or behind `previous`, the caller's last slot), so a lull gives no burst.
    fn reserve(&self, previous: Option<Instant>) -> Instant {
        let mut s = self.lock();
        let now = Instant::now();
        let from = previous.map_or(now, |p| p.min(now));
        let slot = s.next.max(from.checked_sub(self.slack).unwrap_or(from));
        s.next = slot + self.interval;
        slot
    }

    /// The last check before a start: waits until the start would not put more than N starts
    /// into one window, then records it.
    async fn admit(&self) {
        loop {
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.starts.front() {
                    Some(oldest) if s.starts.len() >= self.rate && *oldest + self.window > now => {
                        *oldest + self.window
                    }
                    _ => {
                        if s.starts.len() >= self.rate {
                            s.starts.pop_front();
                        }
                        s.starts.push_back(now);
                        return;
                    }
                }
            };
            sleep_until(wait).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        // A panic while holding this lock cannot leave the schedule inconsistent.
        match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The largest number of `times` inside any half-open one-second window: what the limit
/// bounds, for checking it from the outside.
pub fn most_in_one_second(mut times: Vec<Instant>) -> usize {
    times.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use crate::notify::limiter::*;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;
    use tokio::task::JoinSet;

    async fn run_pattern(rate: u32, seed: u64) -> Vec<Instant> {
        let limiter = Arc::new(Limiter::new(rate));
        let grants = Arc::new(Mutex::new(Vec::new()));
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut tasks = JoinSet::new();
        let start = Instant::now();
        for _ in 0..(rate as usize * 3) {
            // Callers arrive in bursts and lulls: sometimes all at once, sometimes spread out.
            let at = start + Duration::from_micros(rng.random_range(0..4_000_000));
            let repeats = rng.random_range(1..4);
            let (l, g) = (limiter.clone(), grants.clone());
            tasks.spawn(async move {
                sleep_until(at).await;
                for _ in 0..repeats {
                    l.acquire(None).await;
                    g.lock().unwrap().push(Instant::now());
                }
            });
        }
        tasks.join_all().await;
        Arc::try_unwrap(grants).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn no_sliding_second_holds_more_than_the_rate_for_random_arrivals() {
        for seed in 0..8 {
            let grants = run_pattern(500, seed).await;
            assert!(grants.len() > 500);
            assert!(most_in_one_second(grants) <= 500, "seed {seed}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn with_many_waiters_the_mean_rate_is_within_one_percent_of_the_limit() {
        let limiter = Arc::new(Limiter::new(500));
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        for _ in 0..64 {
            let l = limiter.clone();
            tasks.spawn(async move {
                let mut last = start;
                for _ in 0..156 {
                    l.acquire(None).await;
                    last = Instant::now();
                }
                last
            });
        }
        let end = tasks.join_all().await.into_iter().fold(start, Instant::max);
        // 64 * 156 = 9,984 grants; the first is at 0, so 9,983 intervals.
        let rate = 9_983.0 / (end - start).as_secs_f64();
        assert!((rate - 500.0).abs() / 500.0 < 0.01, "rate {rate}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_after_a_lull_is_not_let_through_at_once() {
        let limiter = Limiter::new(100);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        for _ in 0..101 {
            limiter.acquire(None).await;
        }
        assert!(Instant::now() - start >= Duration::from_secs(1));
    }

    /// Takes 10,000 starts one after the other at 5,000 a second (one slot every 0.2 ms, below
    /// the timer's 1 ms resolution, so every sleep wakes late); answers how long they took and
    /// the busiest sliding second.
    async fn one_caller(straight_on: bool) -> (Duration, usize) {
        let limiter = Limiter::new(5000);
        let start = Instant::now();
        let mut previous = None;
        let mut grants = Vec::new();
        for _ in 0..10_000 {
            let slot = limiter.acquire(previous).await;
            previous = straight_on.then_some(slot);
            grants.push(Instant::now());
        }
        (Instant::now() - start, most_in_one_second(grants))
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_going_straight_on_keeps_the_rate_through_late_wake_ups() {
        let (took, busiest) = one_caller(true).await;
        // 9,999 intervals of 1.005 s / 5,000, give or take a late wake-up.
        assert!(took < Duration::from_millis(2_020), "{took:?}");
        assert!(busiest <= 5000, "{busiest}");
        // Without its previous slot every late wake-up counts as idle time and costs slots.
        let (idle_took, _) = one_caller(false).await;
        assert!(idle_took > Duration::from_millis(3_000), "{idle_took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unlimited_limiter_never_waits() {
        let limiter = Limiter::new(0);
        let start = Instant::now();
        for _ in 0..10_000 {
            limiter.acquire(None).await;
        }
        assert_eq!(Instant::now(), start);
        assert_eq!(limiter.rate(), None);
    }
}
