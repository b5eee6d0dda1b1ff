//! The shop's use cases that sit between HTTP and storage: the stock gate, orders and holds.

pub mod gate;
pub mod holds;
pub mod orders;
pub mod take;
