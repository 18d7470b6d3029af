//! `hypersearch dashboard`: the live web dashboard over a trials database, read-only (also
//! while a `run` or `serve` writes it); and [`start`], which `run --dashboard` and
//! `serve --dashboard` use to serve the same pages in-process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use hypersearch_coordinator::store::Location;
use hypersearch_coordinator::store::query::Reader;
use hypersearch_dashboard::Access;
use tokio::net::TcpListener;

use super::run::raised;
use super::{logging, query, read_token, runtime, signals};
use crate::cli::DbArg;

/// `hypersearch dashboard`'s arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  hypersearch dashboard\n  \
    hypersearch dashboard --db runs.db --listen 127.0.0.1:9000\n  \
    hypersearch dashboard --listen 0.0.0.0:8080 --token-file secret.txt\n\n\
    It prints `dashboard at http://ADDRESS/` once listening. On loopback anyone on this machine \
    may look; beyond it the browser asks for the token once (or open the address with \
    ?token=TOKEN), then keeps a cookie. docs/SEEING.md shows each view.")]
pub struct DashboardArgs {
    #[command(flatten)]
    db: DbArg,
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A file holding the token browsers must present; needed beyond loopback.
    #[arg(long, env = "HYPERSEARCH_TOKEN_FILE")]
    token_file: Option<PathBuf>,
}

/// `hypersearch dashboard`.
pub fn run(args: DashboardArgs) -> anyhow::Result<ExitCode> {
    logging::init("error");
    let db = query::location(&args.db.db)?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    runtime()?.block_on(async {
        // Opening it first: a missing or unreadable database is one clear error.
        Reader::open(&db).await?;
        let (stop_asked, _) = signals::watch_stop();
        let (address, serving) =
            start(args.listen, db, token.as_deref(), raised(stop_asked)).await?;
        eprintln!("dashboard at http://{address}/");
        serving
            .await
            .context("the dashboard task failed")?
            .context("the dashboard stopped")?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Listens on `address` and serves the dashboard over `db` there until `shutdown`; returns
/// the address it listens on and the serving task.
///
/// # Errors
/// Beyond loopback without a token; the address in use or not this machine's.
pub async fn start(
    address: SocketAddr,
    db: Location,
    token: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(
    SocketAddr,
    tokio::task::JoinHandle<Result<(), hypersearch_dashboard::Error>>,
)> {
    let access = Access::for_address(Some(address), token)?;
    let listener = TcpListener::bind(address).await.map_err(|source| {
        hypersearch_dashboard::Error::Listen {
            address: address.to_string(),
            source,
        }
    })?;
    let bound = listener.local_addr()?;
    let serving = tokio::spawn(hypersearch_dashboard::serve(listener, db, access, shutdown));
    Ok((bound, serving))
}
