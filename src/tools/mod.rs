//! The command-line tools beside the service: `dropline demo` (`demo/`), `dropline
//! mock-receiver` and the recording receiver tests and benchmarks use (`mock_receiver/`),
//! `dropline webhook verify` (`webhook_verify.rs`) and `dropline draw verify`
//! (`draw_verify.rs`). `cli.rs` parses their arguments and dispatches here.
//!
//! The tools sit on top of the crate: they may import any layer (the demo starts the whole
//! service, the receiver is an axum server of its own), and nothing else in the crate
//! imports them.

pub mod demo;
pub mod draw_verify;
pub mod mock_receiver;
pub mod queue_verify;
pub mod webhook_verify;
