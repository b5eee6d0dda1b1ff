//! The shop's use cases that sit between HTTP and storage: the stock gate, orders and holds.

pub mod detach;
pub mod gate;
pub mod holds;
pub mod keys;
pub mod orders;
pub mod take;
