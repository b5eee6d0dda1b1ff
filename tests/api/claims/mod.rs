//! Claim rounds: each alert sets a unit aside for the member it tells, and an unused unit
//! passes to the next member of the line at once.

mod accounting;
mod alerts;
mod cluster;
mod rounds;
mod settings;
