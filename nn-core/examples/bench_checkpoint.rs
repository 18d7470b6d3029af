//! Benchmark: what a per-epoch checkpoint costs a training. Trains the same network twice,
//! without and with a checkpoint taken and encoded after every epoch ([`nn_core::train_from`],
//! [`nn_core::Checkpoint::encode`]), and prints one JSON line: the CPU seconds per epoch of
//! each (median of epochs 2..; this thread's CPU time, robust to other processes), their
//! ratio, the checkpoint's size and the time to take and encode one.
//!
//! ```text
//! cargo run --release -p nn-core --example bench_checkpoint -- --data digits [--epochs 10]
//! cargo run --release -p nn-core --example bench_checkpoint -- \
//!     --data /usr/share/datasets/fashion-mnist [--epochs 5]
//! ```

use std::time::Instant;

use nn_core::{Checkpoint, CheckpointSink, Control, Dataset, EpochMetrics, TrainConfig};

#[path = "common/mod.rs"]
mod common;
use common::{arg, median_after_first, thread_cpu_seconds};

fn main() {
    common::exit_on_error(run);
}

/// What one timed training measured.
struct Timed {
    /// CPU seconds of each epoch.
    cpu: Vec<f64>,
    /// Each checkpoint's size in bytes (none without checkpoints).
    sizes: Vec<usize>,
    /// Seconds to encode each checkpoint.
    encode: Vec<f64>,
}

/// One training, with or without a checkpoint after every epoch.
fn timed(config: &TrainConfig, data: &Dataset, checkpoints: bool) -> Result<Timed, nn_core::Error> {
    let mut cpu = Vec::new();
    let mut mark = thread_cpu_seconds();
    let mut observe = |_: &EpochMetrics| {
        let now = thread_cpu_seconds();
        cpu.push(now.zip(mark).map_or(f64::NAN, |(b, a)| b - a));
        mark = now;
        Control::Continue
    };
    let (mut sizes, mut encode) = (Vec::new(), Vec::new());
    let mut keep = |c: Checkpoint| {
        let started = Instant::now();
        let bytes = c.encode();
        encode.push(started.elapsed().as_secs_f64());
        sizes.push(bytes.len());
    };
    let keep: Option<&mut dyn CheckpointSink> = if checkpoints { Some(&mut keep) } else { None };
    nn_core::train_from(config, data, &mut observe, None, keep)?;
    Ok(Timed { cpu, sizes, encode })
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let data = arg(&args, "--data", "digits");
    let epochs: usize = arg(&args, "--epochs", "10").parse()?;
    let (source, hidden) = if data == "digits" {
        ("source = \"digits\"".to_string(), "[64, 64]")
    } else {
        (format!("source = \"idx\"\npath = {data:?}"), "[256, 128]")
    };
    let text = format!(
        "[data]\n{source}\n[network]\nhidden = {hidden}\nbatch_norm = true\n\
         [training]\noptimizer = \"adam\"\nbatch_size = 128\nepochs = {epochs}\nseed = 1\n"
    );
    let config = TrainConfig::from_toml(&text, "bench")?;
    let dataset = Dataset::load(config.data())?;
    let without = timed(&config, &dataset, false)?;
    let with = timed(&config, &dataset, true)?;
    let (off, on) = (
        median_after_first(&without.cpu),
        median_after_first(&with.cpu),
    );
    println!(
        "{}",
        serde_json::json!({
            "data": data,
            "hidden": hidden,
            "epochs": epochs,
            "cpu_sec_per_epoch_without": off,
            "cpu_sec_per_epoch_with": on,
            "ratio": on / off,
            "checkpoint_bytes": with.sizes.last(),
            "encode_sec": median_after_first(&with.encode),
        })
    );
    Ok(())
}
