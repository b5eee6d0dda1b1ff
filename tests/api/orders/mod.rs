//! Orders: placement rules, races for stock, the payment hold and its expiry.

mod batches;
mod concurrency;
mod deadlocks;
mod lifecycle;
mod place;
