//! Requests of one user with the same idempotency key, handled one after another in this
//! process: a duplicate waits for the first one's outcome and then answers as a repeat would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OwnedMutexGuard;

use crate::domain::ids::UserId;
use crate::domain::order::IdempotencyKey;

type Slot = Arc<tokio::sync::Mutex<()>>;

/// One async lock per (user, key) in use; entries go when their last holder does.
#[derive(Debug, Default)]
pub struct KeyLocks {
    /// Guarded by its own lock only to find or make a slot; waiting happens on the slot.
    slots: Mutex<HashMap<(UserId, String), Slot>>,
}

/// The turn of one request with a key; dropping it lets the next one in.
pub struct KeyTurn {
    locks: Arc<KeyLocks>,
    id: (UserId, String),
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    /// Waits for the turn of `user`'s requests with `key`.
    pub async fn turn(self: &Arc<Self>, user: UserId, key: &IdempotencyKey) -> KeyTurn {
        let id = (user, key.as_str().to_owned());
        let slot = {
            let mut slots = lock(&self.slots);
            slots.entry(id.clone()).or_default().clone()
        };
        let guard = slot.lock_owned().await;
        KeyTurn {
            locks: self.clone(),
            id,
            guard: Some(guard),
        }
    }

    /// How many keys have a slot now (for tests: slots do not pile up).
    pub fn len(&self) -> usize {
        lock(&self.slots).len()
    }

    /// Whether no key has a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for KeyTurn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut slots = lock(&self.locks.slots);
        // Only the map holds the slot now: nobody waits, so it can go.
        if slots
            .get(&self.id)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            slots.remove(&self.id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
