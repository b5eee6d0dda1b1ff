//! The development webhook receiver: a recording receiver for demos, tests and benchmarks
//! (`receiver.rs`), what it records of each request (`arrival.rs`), its handler and shared
//! state (`receive.rs`), and `dropline mock-receiver` on the command line (`command.rs`). It
//! is not mounted in the service's router.

mod arrival;
pub mod command;
mod receive;
mod receiver;

pub use arrival::{Arrival, Hook, Notification, WebhookHeaders, busiest_second};
pub use receiver::MockReceiver;
