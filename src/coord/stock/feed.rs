//! How well this instance hears the stock-change channel. Every instance publishes a beat on
//! it every [`BEAT_EVERY`], so a subscription that hears nothing for [`SILENCE`] is broken even
//! when no stock moves; a message that cannot be read is counted and said. While the feed is
//! silent or was recently unreadable, the gate's mirror is kept by reading the counters
//! instead (see `gate::sync`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

use super::SharedLevel;
use crate::domain::ids::ProductId;

/// How often each instance publishes a beat on the stock-change channel.
pub const BEAT_EVERY: Duration = Duration::from_millis(500);

/// A subscription that heard nothing (beats included) for this long is silent.
pub const SILENCE: Duration = Duration::from_secs(2);

/// After an unreadable message, how long the counters are read instead of trusting the feed.
pub const UNREADABLE_FOR: Duration = Duration::from_secs(30);

/// How often the counters are read while the feed cannot be trusted.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// What the feed looks like from this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedState {
    /// Not subscribed (Redis unusable, or reconnecting): the gate is not trusted.
    Down,
    /// Subscribed and hearing the channel.
    Live,
    /// Subscribed, but nothing heard for [`SILENCE`]: the counters are read instead.
    Silent,
    /// A message could not be read within [`UNREADABLE_FOR`]: the counters are read instead.
    Unreadable,
}

impl FeedState {
    /// The name `/readyz` and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Live => "live",
            Self::Silent => "silent",
            Self::Unreadable => "unreadable",
        }
    }

    /// Whether the mirror must be kept by reading the counters.
    pub fn needs_polling(self) -> bool {
        matches!(self, Self::Silent | Self::Unreadable)
    }
}

/// A message of the stock-change channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockMessage {
    /// A product's level after a change.
    Level(SharedLevel),
    /// An instance's beat (`"beat <instance>"`).
    Beat,
}

/// A message that is neither a level nor a beat.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable stock-change message {0:?}")]
pub struct Unreadable(pub String);

/// Reads a published message: `"<product> <available> <pending> <version>"`, each a decimal
/// integer, or `"beat <instance>"`.
pub fn parse(payload: &str) -> Result<StockMessage, Unreadable> {
    if payload.starts_with("beat ") {
        return Ok(StockMessage::Beat);
    }
    let bad = || Unreadable(payload.chars().take(200).collect());
    let fields: Vec<i64> = payload
        .split(' ')
        .map(str::parse::<i64>)
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [p, available, pending, version] = fields[..] else {
        return Err(bad());
    };
    Ok(StockMessage::Level(SharedLevel {
        product: ProductId::try_from(p).map_err(|_| bad())?,
        available,
        pending,
        version,
    }))
}

/// What the follower heard and when; the state it implies is published on a `watch`.
///
/// `heard` and `unreadable` are written by the one follower task and read by the health
/// loop; each is one small mutex, never held across an await.
pub struct FeedHealth {
    heard: Mutex<Option<Instant>>,
    unreadable: Mutex<Option<Instant>>,
    unreadable_count: AtomicU64,
    state: watch::Sender<FeedState>,
    /// Set by fault tests: every message is dropped unheard, as by a subscription that
    /// silently stopped delivering.
    deaf: AtomicBool,
}

impl Default for FeedHealth {
    fn default() -> Self {
        Self {
            heard: Mutex::new(None),
            unreadable: Mutex::new(None),
            unreadable_count: AtomicU64::new(0),
            state: watch::Sender::new(FeedState::Down),
            deaf: AtomicBool::new(false),
        }
    }
}

impl FeedHealth {
    /// A message (or a beat) arrived.
    pub fn heard(&self) {
        *lock(&self.heard) = Some(Instant::now());
    }

    /// A message could not be read; answers how many so far.
    pub fn unreadable(&self) -> u64 {
        self.heard();
        *lock(&self.unreadable) = Some(Instant::now());
        self.unreadable_count.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Unreadable messages heard since start.
    pub fn unreadable_count(&self) -> u64 {
        self.unreadable_count.load(Ordering::Relaxed)
    }

    /// Works out the state from what was heard and records it; answers the state before
    /// and after.
    pub fn assess(&self, following: bool) -> (FeedState, FeedState) {
        let state = self.evaluate(following);
        let before = self.state.send_replace(state);
        (before, state)
    }

    /// The state what was heard implies now (recorded or not).
    pub fn evaluate(&self, following: bool) -> FeedState {
        let now = Instant::now();
        let quiet = lock(&self.heard).is_none_or(|t| now.duration_since(t) >= SILENCE);
        let garbled =
            lock(&self.unreadable).is_some_and(|t| now.duration_since(t) < UNREADABLE_FOR);
        if !following {
            FeedState::Down
        } else if garbled {
            FeedState::Unreadable
        } else if quiet {
            FeedState::Silent
        } else {
            FeedState::Live
        }
    }

    /// The state as last assessed.
    pub fn state(&self) -> FeedState {
        *self.state.borrow()
    }

    /// Follows [`FeedHealth::state`].
    pub fn watch(&self) -> watch::Receiver<FeedState> {
        self.state.subscribe()
    }

    /// Drops (true) or hears again (false) every message: a subscription that silently stops
    /// delivering, for fault tests and drills.
    pub fn set_deaf(&self, deaf: bool) {
        self.deaf.store(deaf, Ordering::SeqCst);
    }

    /// Whether messages are dropped unheard (see [`FeedHealth::set_deaf`]).
    pub fn is_deaf(&self) -> bool {
        self.deaf.load(Ordering::SeqCst)
    }

    /// A (re)subscription starts: the silence is counted from now.
    pub fn subscribed(&self) {
        self.heard();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_beats_and_garbage_are_told_apart() {
        let big = (1_i64 << 53) + 3;
        assert_eq!(
            parse(&format!("7 5 1 {big}")),
            Ok(StockMessage::Level(SharedLevel {
                product: ProductId::from_db(7),
                available: 5,
                pending: 1,
                version: big,
            }))
        );
        assert_eq!(parse("beat instance-1"), Ok(StockMessage::Beat));
        for garbage in [
            "7 5 1 1.7966306017249e+15",
            "7 5 1",
            "7 5 1 2 3",
            "x 5 1 2",
            "0 5 1 2",
            "",
        ] {
            assert!(parse(garbage).is_err(), "{garbage:?} was read");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn silence_and_unreadable_messages_are_seen_and_pass() {
        let feed = FeedHealth::default();
        assert_eq!(feed.assess(false).1, FeedState::Down);
        feed.subscribed();
        assert_eq!(feed.assess(true).1, FeedState::Live);
        tokio::time::advance(SILENCE).await;
        assert_eq!(feed.assess(true), (FeedState::Live, FeedState::Silent));
        feed.heard();
        assert_eq!(feed.assess(true).1, FeedState::Live);
        assert_eq!(feed.unreadable(), 1);
        assert_eq!(feed.assess(true).1, FeedState::Unreadable);
        tokio::time::advance(UNREADABLE_FOR).await;
        feed.heard();
        assert_eq!(feed.assess(true).1, FeedState::Live);
    }
}
