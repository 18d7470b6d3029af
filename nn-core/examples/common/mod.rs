//! What the benchmark examples share: their flags, per-thread CPU time, the median of the
//! epochs after the first, and a training run timed epoch by epoch. Each example uses part
//! of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use nn_core::{Control, Dataset, EpochMetrics, TrainConfig, TrainReport};

/// Runs `run` as a program's body: an error is printed and the process exits with 1.
pub fn exit_on_error(run: fn() -> Result<(), Box<dyn std::error::Error>>) {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The value after flag `name` in `args`, or `default`.
pub fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// The median of epochs 2.. (the first pays for warm-up), or the only epoch.
pub fn median_after_first(times: &[f64]) -> f64 {
    let mut rest: Vec<f64> = if times.len() > 1 {
        times[1..].to_vec()
    } else {
        times.to_vec()
    };
    rest.sort_by(f64::total_cmp);
    let n = rest.len();
    if n % 2 == 1 {
        rest[n / 2]
    } else {
        (rest[n / 2 - 1] + rest[n / 2]) / 2.0
    }
}

/// CPU time of the calling thread in seconds (Linux `schedstat`): robust when other
/// processes share the cores. With `threads = 1` all training runs on this thread.
pub fn thread_cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Trains `config` on `data`, printing each epoch to stderr under `label`; the report and
/// each epoch's CPU time on this thread (NaN where it could not be read).
pub fn train_timed(
    config: &TrainConfig,
    data: &Dataset,
    label: &str,
) -> Result<(TrainReport, Vec<f64>), nn_core::Error> {
    let mut cpu_times = Vec::new();
    let mut cpu_mark = thread_cpu_seconds();
    let report = nn_core::train(config, data, &mut |m: &EpochMetrics| {
        let now = thread_cpu_seconds();
        cpu_times.push(now.zip(cpu_mark).map_or(f64::NAN, |(b, a)| b - a));
        cpu_mark = now;
        eprintln!(
            "{label} epoch {} {:.3} s loss {:.4}",
            m.epoch, m.seconds, m.train_loss
        );
        Control::Continue
    })?;
    Ok((report, cpu_times))
}
