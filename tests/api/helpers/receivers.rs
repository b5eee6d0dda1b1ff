//! What the recording receiver saw (users told, bodies) and signals from it: the n-th
//! arrival, and the arrivals after a kill.

use dropline::tools::mock_receiver::MockReceiver;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Sets a hook on `receiver` that answers nothing and wakes the answer at arrival `seq`.
pub fn signal_at(receiver: &MockReceiver, seq: u64) -> Arc<Notify> {
    let signal = Arc::new(Notify::new());
    let s = signal.clone();
    receiver.set_hook(Arc::new(move |a| {
        if a.seq == seq {
            s.notify_one();
        }
        Box::pin(async {})
    }));
    signal
}

/// A round's run watched across a kill: `reached` wakes at one arrival, `fresh` at any arrival
/// after `mark` (which stays unset, u64::MAX, until the test sets it).
pub struct KillWatch {
    /// Woken at the arrival the watch was set for.
    pub reached: Arc<Notify>,
    /// Woken at every arrival after `mark`.
    pub fresh: Arc<Notify>,
    /// The arrival count after which arrivals are fresh.
    pub mark: Arc<AtomicU64>,
}

impl KillWatch {
    /// Sets the watch as `receiver`'s hook, `reached` waking at arrival `seq`.
    pub fn on(receiver: &MockReceiver, seq: u64) -> Self {
        let watch = Self {
            reached: Arc::new(Notify::new()),
            fresh: Arc::new(Notify::new()),
            mark: Arc::new(AtomicU64::new(u64::MAX)),
        };
        let (r, f, m) = (
            watch.reached.clone(),
            watch.fresh.clone(),
            watch.mark.clone(),
        );
        receiver.set_hook(Arc::new(move |a| {
            if a.seq == seq {
                r.notify_one();
            }
            if a.seq > m.load(Ordering::SeqCst) {
                f.notify_one();
            }
            Box::pin(async {})
        }));
        watch
    }
}

/// The users the receiver was asked to notify, in arrival order.
pub fn told(receiver: &MockReceiver) -> Vec<i64> {
    receiver
        .arrivals()
        .iter()
        .map(|a| a.notification.user_id)
        .collect()
}

/// The same, sorted: alerts in flight together may arrive in any order.
pub fn told_sorted(receiver: &MockReceiver) -> Vec<i64> {
    let mut users = told(receiver);
    users.sort_unstable();
    users
}

/// The body of every request the receiver got, in arrival order.
pub fn bodies(receiver: &MockReceiver) -> Vec<Value> {
    receiver
        .arrivals()
        .iter()
        .map(|a| serde_json::from_slice(&a.body).expect("json body"))
        .collect()
}
