//! Tracing set up in one place: text or JSON lines on stderr, filtered by the
//! configured level. `RUST_LOG` is ignored on purpose: `--log-level` /
//! `SWITCHBOARD_LOG_LEVEL` is the one documented knob.

use std::io::IsTerminal;

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogFormat;

/// Installs the global subscriber. Call once, from `main`; tests leave logging off.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::builder().parse_lossy(level);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
