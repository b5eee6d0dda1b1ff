//! `dropline draw verify`: reads a draw's saved documents, has the draw recomputed and checked
//! (`domain::draws::check`), prints the report and the checks passed, or exits 1 naming the
//! first mismatch.

use anyhow::Context;
use std::path::{Path, PathBuf};

use crate::domain::draws::check::verify;
use crate::domain::draws::verdict::{Request, Verdict};

/// Arguments of `draw verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct DrawVerifyArgs {
    /// The revealed seed (`seed` of `GET /products/{id}/draw`); else the --draw document's.
    #[arg(long, required_unless_present = "draw")]
    pub seed: Option<String>,
    /// The entries: saved `GET /products/{id}/draw/entries` pages (JSON), or one
    /// `user_id,quantity[,rank,status]` per line. Repeat for several files. Listed ranks and
    /// statuses are checked against the recomputed draw.
    #[arg(long, required = true)]
    pub entries: Vec<PathBuf>,
    /// The units the draw had (`units` of `GET /products/{id}/draw`: the product's free stock
    /// at the draw), to compute the winners; else the --draw document's.
    #[arg(long)]
    pub units: Option<i64>,
    /// A saved `GET /products/{id}/draw`: its seed, seed hash, entry count, digest and units
    /// are checked.
    #[arg(long)]
    pub draw: Option<PathBuf>,
    /// The seed hash published before the window (lowercase hex SHA-256) to check the seed
    /// against.
    #[arg(long)]
    pub seed_hash: Option<String>,
    /// The published entries digest to check the list against.
    #[arg(long)]
    pub digest: Option<String>,
}

/// Runs `dropline draw verify`: prints the recomputed draw and `verified:` with the checks
/// passed, or the first mismatch and exits 1.
pub fn run(args: &DrawVerifyArgs) -> anyhow::Result<()> {
    let verdict = check(args)?;
    print!("{}", verdict.report);
    for note in &verdict.notes {
        eprintln!("note: {note}");
    }
    match verdict.result {
        Ok(checked) if checked.is_empty() => {
            println!("verified: nothing to check against (give --draw, --seed-hash or --digest)");
            Ok(())
        }
        Ok(checked) => {
            println!("verified: {}", checked.join(" "));
            Ok(())
        }
        Err(mismatch) => {
            eprintln!("mismatch: {mismatch}");
            std::process::exit(1);
        }
    }
}

/// Reads the saved documents, recomputes the draw and checks it.
fn check(args: &DrawVerifyArgs) -> anyhow::Result<Verdict> {
    let read = |file: &Path| {
        std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))
    };
    let entries = args
        .entries
        .iter()
        .map(|f| read(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let draw = args.draw.as_deref().map(read).transpose()?;
    Ok(verify(&Request {
        seed: args.seed.as_deref(),
        seed_hash: args.seed_hash.as_deref(),
        digest: args.digest.as_deref(),
        units: args.units,
        draw: draw.as_deref(),
        entries: &entries,
    })?)
}
