//! Draw sales: how a product sells by lottery, its entries and its draw (`entry.rs`,
//! `record.rs`), the verifiable rules of the draw (`rules.rs`), and the checks `dropline draw
//! verify` runs without the server: the saved documents it reads (`documents.rs`), the
//! recomputed draw's text (`report.rs`), the request and verdict (`verdict.rs`) and the
//! checks themselves (`check.rs`, the list's ranks and statuses in `ranks.rs`).

pub mod check;
pub mod documents;
mod entry;
mod ranks;
mod record;
pub mod report;
mod rules;
pub mod verdict;

pub use entry::{Entry, EntryOutcome, EntryStatus, SaleMode};
pub use record::{DrawOutcome, DrawRecord, DrawStatus, Win};
pub use rules::{
    EntriesDigest, Ranked, entries_digest, hex, is_seed, pick, rank_key, recompute, seed_hash,
    sha256_hex,
};
