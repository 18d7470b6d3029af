//! Benchmark: trains the 784-256-128-10 ReLU MLP (batch 128, Adam 1e-3, 1 thread by default)
//! on an IDX data set (Fashion-MNIST) on all 60,000 training images, and prints one JSON line:
//! seconds per epoch (median of epochs 2..), samples/s, GFLOP/s of the GEMMs (forward plus
//! backward), test accuracy and peak resident memory.
//!
//! ```text
//! cargo run --release -p nn-core --example bench_mlp -- \
//!     --data /usr/share/datasets/fashion-mnist --variant plain|bn-dropout [--epochs 10] [--threads 1]
//! ```

use std::time::Instant;

use nn_core::{Dataset, TrainConfig};

#[path = "common/mod.rs"]
mod common;
use common::{arg, median_after_first, train_timed};

fn main() {
    common::exit_on_error(run);
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let data = arg(&args, "--data", "/usr/share/datasets/fashion-mnist");
    let variant = arg(&args, "--variant", "plain");
    let epochs: usize = arg(&args, "--epochs", "10").parse()?;
    let threads: usize = arg(&args, "--threads", "1").parse()?;
    let network = match variant.as_str() {
        "plain" => "batch_norm = false\ndropout = 0.0",
        "bn-dropout" => "batch_norm = true\ndropout = [0.5, 0.3]",
        other => return Err(format!("unknown --variant {other}: plain or bn-dropout").into()),
    };
    let text = format!(
        "[data]\nsource = \"idx\"\npath = {data:?}\nvalidation_fraction = 0.0\n\
         [network]\nhidden = [256, 128]\nactivation = \"relu\"\n{network}\n\
         [training]\noptimizer = \"adam\"\nlearning_rate = 0.001\nbatch_size = 128\n\
         epochs = {epochs}\nseed = 1\nthreads = {threads}\n"
    );
    let config = TrainConfig::from_toml(&text, "bench")?;
    let started = Instant::now();
    let dataset = Dataset::load(config.data())?;
    let load_seconds = started.elapsed().as_secs_f64();
    let (report, cpu_times) = train_timed(&config, &dataset, &format!("nn-core {variant}"))?;
    let wall: Vec<f64> = report.history.iter().map(|m| m.seconds).collect();
    let median = median_after_first(&wall);
    let cpu_median = median_after_first(&cpu_times);
    let samples = dataset.train().len() as f64;
    // GEMM flops per sample: forward, weight gradients, input gradients (none for the input).
    let dims = [dataset.features(), 256, 128, dataset.classes()];
    let products: Vec<f64> = dims.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    let per_sample = 2.0 * (2.0 * products.iter().sum::<f64>() + products[1..].iter().sum::<f64>());
    let gflop = per_sample * samples / 1e9;
    println!(
        "{}",
        serde_json::json!({
            "impl": "nn-core",
            "variant": variant,
            "threads": threads,
            "epochs": report.history.len(),
            "sec_per_epoch": median,
            "cpu_sec_per_epoch": cpu_median,
            "samples_per_s": samples / median,
            "gflop_per_epoch": gflop,
            "gflops": gflop / median,
            "test_accuracy": report.test_accuracy,
            "peak_mb": peak_mb(),
            "data_mb": dataset.bytes() as f64 / 1e6,
            "load_seconds": load_seconds,
        })
    );
    Ok(())
}

/// Peak resident memory of this process (VmHWM), in MB.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024.0 / 1e6)
}
