//! The log subscriber: tracing to stderr, filtered by `HYPERSEARCH_LOG` (e.g. `debug`,
//! `hypersearch_coordinator=debug`), else by the command's default level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `default` is the level when `HYPERSEARCH_LOG` is unset.
pub fn init(default: &str) {
    // PostgreSQL's notices ("relation … already exists, skipping" on every start) are the
    // server talking to itself: shown only when asked for by name.
    let filter = EnvFilter::try_from_env("HYPERSEARCH_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},sqlx::postgres::notice=warn")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
