//! `dropline webhook verify`: checks one received notification the way a receiver should.

use anyhow::Context;

use crate::notify::signing::SigningKeys;
use crate::secret::Secret;

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature matches one of the secrets and the timestamp is recent.
    Valid,
    /// Why the request must not be trusted.
    Invalid(String),
}

/// Arguments of `webhook verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The signing secret(s), `whsec_…`, separated by spaces.
    #[arg(long, env = "DROPLINE_NOTIFY_SECRET", hide_env_values = true)]
    pub secret: Secret,
    /// The `webhook-id` header.
    #[arg(long)]
    pub id: String,
    /// The `webhook-timestamp` header.
    #[arg(long)]
    pub timestamp: String,
    /// The `webhook-signature` header.
    #[arg(long)]
    pub signature: String,
    /// File holding the exact body received.
    #[arg(long)]
    pub body_file: std::path::PathBuf,
    /// Refuse timestamps further than this from now, in seconds; 0 skips the check.
    #[arg(long, default_value_t = 300)]
    pub tolerance_seconds: u64,
}

/// Reads the body file and checks the headers against the secrets at `now` (Unix seconds).
pub fn verify(args: &VerifyArgs, now: i64) -> anyhow::Result<Verdict> {
    let keys = SigningKeys::parse(args.secret.expose()).context("The secret is invalid")?;
    let body = std::fs::read(&args.body_file)
        .with_context(|| format!("Failed to read {}", args.body_file.display()))?;
    let Ok(timestamp) = args.timestamp.trim().parse::<i64>() else {
        return Ok(Verdict::Invalid(
            "webhook-timestamp is not Unix seconds".into(),
        ));
    };
    let tolerance = i64::try_from(args.tolerance_seconds).unwrap_or(i64::MAX);
    if tolerance > 0 && now.abs_diff(timestamp) > tolerance.unsigned_abs() {
        return Ok(Verdict::Invalid(format!(
            "webhook-timestamp is more than {tolerance} s away from now"
        )));
    }
    Ok(
        if keys.verify(&args.id, timestamp, &args.signature, &body) {
            Verdict::Valid
        } else {
            Verdict::Invalid("no signature matches the secret(s)".into())
        },
    )
}

/// Runs `dropline webhook verify`: prints valid, or invalid and why and exits 1.
pub fn run(args: &VerifyArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    match verify(args, now)? {
        Verdict::Valid => {
            println!("valid");
            Ok(())
        }
        Verdict::Invalid(why) => {
            println!("invalid: {why}");
            std::process::exit(1);
        }
    }
}
