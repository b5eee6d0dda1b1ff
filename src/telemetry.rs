//! Tracing setup for the binary, and the Prometheus metrics.

pub mod metrics;
mod process;

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[error(
    "DROPLINE_LOG_LEVEL / --log-level {value:?} is not a valid filter ({reason}); use a level (error, warn, info, debug, trace) or directives such as info,dropline=debug"
)]
pub struct BadFilter {
    value: String,
    reason: String,
}

/// Installs the global subscriber; the filter comes from the settings and an invalid one is
/// refused (no silent fallback). Text lines are coloured only on a terminal without `NO_COLOR`.
pub fn init(settings: &LogSettings) -> Result<(), BadFilter> {
    let filter = EnvFilter::builder()
        .parse(&settings.log_level)
        .map_err(|e| BadFilter {
            value: settings.log_level.clone(),
            reason: e.to_string(),
        })?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .with_writer(std::io::stderr);
    let _ = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}
