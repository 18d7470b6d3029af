//! Distributed throughput of hypersearch (issue 5), end to end on this machine: a real
//! `hypersearch serve` process with its SQLite file on disk (WAL, synchronous = FULL: every
//! acknowledged write is fsynced), real gRPC, and
//! - `trials`: real `hypersearch worker` processes running a zero-cost `function` objective
//!   (branin, random sampler), with 1, 8 and 64 worker slots;
//! - `reports`: worker-protocol clients (this binary, over the same gRPC API) that report the
//!   curve 1/(step+1) for 20 epochs per trial under the median rule (checked at every epoch,
//!   never stopping), as the peer's `sqlite-reports` mode does;
//! - `best`: `hypersearch best` (the whole process) on a 100,000-trial study;
//! - `flat`: `hypersearch run` on a 200,000-trial zero-cost study, completions per second per
//!   block of 10,000 trials (the cost of a trial must not grow with the study) and peak memory.
//!
//! With `--peer FILE` (the JSON of `bench/peers/optuna_throughput.py`, same run) it prints
//! the comparison table with ratios. `bench/throughput.sh` runs both sides.
//!
//! Layout: `cluster` (processes, the database read back), `reports` (the protocol clients),
//! `best` (the large study), `flat` (cost per trial over a large study), `table` (the
//! markdown tables).

mod best;
mod cluster;
mod flat;
mod reports;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Command line of the throughput benchmark.
#[derive(Debug, Parser)]
#[command(about = "Trials and reports per second through hypersearch serve/worker (issue 5)")]
struct Args {
    /// The `hypersearch` binary (build it with `cargo build --release` first).
    #[arg(long, default_value = "target/release/hypersearch")]
    bin: PathBuf,
    /// Where the databases go (a disk filesystem: its fsync cost is what is measured).
    #[arg(long, default_value = "target/bench-throughput/storage")]
    dir: PathBuf,
    /// What to measure: any of trials, reports, best, flat (not in the default set).
    #[arg(long, value_delimiter = ',', default_value = "trials,reports,best")]
    modes: Vec<String>,
    /// Worker slots of the `trials` rows.
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    slots: Vec<u32>,
    /// Slots per worker process (64 slots = 8 processes of 8 slots).
    #[arg(long, default_value_t = 8)]
    slots_per_worker: u32,
    /// Trials per `trials` row.
    #[arg(long, default_value_t = 5000)]
    trials: u64,
    /// Trials per `reports` row.
    #[arg(long, default_value_t = 2000)]
    report_trials: u64,
    /// Concurrent trial streams of the `reports` rows.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    report_slots: Vec<u32>,
    /// Trials of the study `best` is timed on.
    #[arg(long, default_value_t = 100_000)]
    best_trials: u64,
    /// Trials of the `flat` study.
    #[arg(long, default_value_t = 200_000)]
    flat_trials: u64,
    /// Trials per block of the `flat` curve.
    #[arg(long, default_value_t = 10_000)]
    flat_block: u64,
    /// Local worker slots of the `flat` study.
    #[arg(long, default_value_t = 8)]
    flat_slots: u32,
    /// Run the `trials` and `reports` rows on this PostgreSQL server instead of SQLite files
    /// (a URL without a database name: `postgres://postgres@127.0.0.1:5432`; a fresh database
    /// is created per row).
    #[arg(long)]
    postgres: Option<String>,
    /// The peer's JSON from the same run, for the ratio table.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// Also write the results as one JSON object here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Small sizes, for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    match try_main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("throughput: {err}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<ExitCode, String> {
    let mut args = Args::parse();
    if args.quick {
        args.trials = args.trials.min(600);
        args.report_trials = args.report_trials.min(300);
        args.best_trials = args.best_trials.min(10_000);
        args.flat_trials = args.flat_trials.min(20_000);
        args.flat_block = args.flat_block.min(2_000);
    }
    if !args.bin.is_file() {
        return Err(format!(
            "{} is not a file: build it with `cargo build --release -p hypersearch`, or pass --bin",
            args.bin.display()
        ));
    }
    if let Some(base) = &args.postgres {
        let _ = cluster::POSTGRES.set(base.trim_end_matches('/').to_string());
    }
    std::fs::create_dir_all(&args.dir)
        .map_err(|err| format!("cannot create {}: {err}", args.dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| format!("cannot start a runtime: {err}"))?;
    let load = table::load_average();
    let mut rows = Vec::new();
    let mut errors = 0;
    for mode in &args.modes {
        match mode.as_str() {
            "trials" => {
                for &slots in &args.slots {
                    let row = cluster::trials_row(
                        &args.bin,
                        &args.dir,
                        slots,
                        args.slots_per_worker,
                        args.trials,
                    )?;
                    eprintln!("{}", row.summary());
                    errors += row.errors;
                    rows.push(row);
                }
            }
            "reports" => {
                for &slots in &args.report_slots {
                    let row = runtime.block_on(reports::reports_row(
                        &args.bin,
                        &args.dir,
                        slots,
                        args.report_trials,
                    ))?;
                    eprintln!("{}", row.summary());
                    errors += row.errors;
                    rows.push(row);
                }
            }
            "best" => {
                let row =
                    runtime.block_on(best::best_row(&args.bin, &args.dir, args.best_trials))?;
                eprintln!("{}", row.summary());
                errors += row.errors;
                rows.push(row);
            }
            "flat" => {
                let row = flat::flat_row(
                    &args.bin,
                    &args.dir,
                    args.flat_trials,
                    args.flat_slots,
                    args.flat_block,
                )?;
                println!("{}", row.summary());
                if let Some(path) = &args.json {
                    let path = path.with_extension("flat.json");
                    let text = serde_json::to_string(&row).map_err(|err| err.to_string())?;
                    std::fs::write(&path, text)
                        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
                }
                errors += row.errors.len() as u64;
                for error in &row.errors {
                    eprintln!("flat: {error}");
                }
            }
            other => {
                return Err(format!(
                    "--modes: unknown mode `{other}` (trials, reports, best, flat)"
                ));
            }
        }
    }
    let peer = args.peer.as_deref().map(table::read_peer).transpose()?;
    if !rows.is_empty() {
        println!("{}", table::markdown(&rows, peer.as_ref(), load, &args.dir));
    }
    if let Some(path) = &args.json
        && !rows.is_empty()
    {
        let json = table::json(&rows, load, &args.dir);
        std::fs::write(path, json.to_string())
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
