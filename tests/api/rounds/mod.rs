//! Restock rounds: opening and reading them, provider failures and resume, buyers ordering
//! while a round runs, sell-out and line policies, and a round left by a server that died.

mod after_restart;
mod buyers_ordering;
mod deliveries;
mod opening;
mod provider_failures;
mod sell_out_and_policies;
