//! Coordination between instances through Redis: one notification schedule for all of them.

pub mod schedule;
