//! What `dropline draw verify` is given and what it finds: the request, the verdict, the
//! first mismatch, and each figure with where it came from.

/// What `draw verify` was given: the texts of the saved documents and the figures to hold
/// the draw to.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    /// The revealed seed (else the draw document's).
    pub seed: Option<&'a str>,
    /// The seed's hash to check against (as well as the draw document's).
    pub seed_hash: Option<&'a str>,
    /// The entries digest to check against (as well as the draw document's).
    pub digest: Option<&'a str>,
    /// The units drawn for (else the draw document's).
    pub units: Option<i64>,
    /// A saved `GET /products/{id}/draw`.
    pub draw: Option<&'a str>,
    /// Saved entry lists (pages or lines), in order.
    pub entries: &'a [String],
}

/// What `draw verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The recomputed draw (seed hash, digest, ranks, winners).
    pub report: String,
    /// The names of the checks passed, or the first disagreement.
    pub result: Result<Vec<&'static str>, Mismatch>,
    /// What could not be checked for want of a figure.
    pub notes: Vec<String>,
}

/// The first disagreement between the recomputed draw and what was published or listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// Answers the first disagreement, formatted.
macro_rules! mismatch {
    ($($arg:tt)*) => { return Err($crate::domain::draws::verdict::Mismatch(format!($($arg)*))) };
}
pub(super) use mismatch;

/// One figure to check against, and where it came from.
pub(super) struct Given<T> {
    /// The figure.
    pub(super) value: T,
    /// Where it came from: a flag, or the draw document.
    pub(super) from: &'static str,
}

/// Where a figure read from the draw document came from.
pub(super) const DOC: &str = "the draw document";
