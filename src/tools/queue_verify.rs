//! `dropline queue verify`: reads a waiting room's saved member list, has the room's order
//! recomputed from the revealed seed and checked (`domain::queue::verify`), prints every
//! place and the checks passed, or exits 1 naming the first mismatch.

use anyhow::Context;
use serde_json::Value;
use std::path::{Path, PathBuf};

use crate::domain::queue::verify::{read_members, verify};

/// Arguments of `queue verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueVerifyArgs {
    /// The revealed seed (`queue_seed` of `GET /products/{id}` once the sale started); else
    /// the --product document's.
    #[arg(long, required_unless_present = "product")]
    pub seed: Option<String>,
    /// Saved `GET /admin/products/{id}/queue/members` pages (JSON), in order. Repeat for
    /// several files.
    #[arg(long, required = true)]
    pub members: Vec<PathBuf>,
    /// The seed hash published before the sale (`queue_seed_hash`) to check the seed
    /// against; else the --product document's.
    #[arg(long)]
    pub seed_hash: Option<String>,
    /// A saved `GET /products/{id}`: its `queue_seed` and `queue_seed_hash`.
    #[arg(long)]
    pub product: Option<PathBuf>,
}

/// Runs `dropline queue verify`.
pub fn run(args: &QueueVerifyArgs) -> anyhow::Result<()> {
    let read = |file: &Path| {
        std::fs::read_to_string(file).with_context(|| format!("Failed to read {}", file.display()))
    };
    let product: Option<Value> = match &args.product {
        Some(file) => Some(
            serde_json::from_str(&read(file)?)
                .with_context(|| format!("{} is not JSON", file.display()))?,
        ),
        None => None,
    };
    let field = |name: &str| {
        product
            .as_ref()
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let seed = args
        .seed
        .clone()
        .or_else(|| field("queue_seed"))
        .context("no seed: give --seed, or a --product saved once the sale started")?;
    let published = args.seed_hash.clone().or_else(|| field("queue_seed_hash"));
    let texts = args
        .members
        .iter()
        .map(|f| read(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let members = read_members(&texts)?;
    let verdict = verify(seed.trim(), published.as_deref(), &members)?;
    print!("{}", verdict.report);
    match verdict.result {
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
