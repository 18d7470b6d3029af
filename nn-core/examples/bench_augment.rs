//! Benchmark: what data augmentation (`[data] augment`) costs per epoch and what it does to
//! accuracy. Trains the 256-128 ReLU MLP (batch 128, Adam 1e-3, one thread, seed 1) twice on
//! the same data, without augmentation and with `augment = { shift, rotate }`, and prints one
//! JSON line per run: seconds per epoch (median of epochs 2..; wall and thread CPU time), the
//! final test accuracy (validation accuracy for digits, which has no test set), and then the
//! augmented run's overhead in per cent of the plain epoch.
//!
//! ```text
//! cargo run --release -p nn-core --example bench_augment -- \
//!     --data digits|/usr/share/datasets/fashion-mnist [--epochs 10] [--shift 2] [--rotate 10]
//! ```

use nn_core::{Dataset, TrainConfig};

#[path = "common/mod.rs"]
mod common;
use common::{arg, median_after_first, train_timed};

fn main() {
    common::exit_on_error(run);
}

/// One training's epoch times and accuracy.
struct Run {
    wall: f64,
    cpu: f64,
    accuracy: Option<f64>,
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let data = arg(&args, "--data", "digits");
    let epochs: usize = arg(&args, "--epochs", "10").parse()?;
    let shift: f64 = arg(&args, "--shift", "2").parse()?;
    let rotate: f64 = arg(&args, "--rotate", "10").parse()?;
    let source = if data == "digits" {
        "source = \"digits\"\nvalidation_fraction = 0.2".to_string()
    } else {
        format!("source = \"idx\"\npath = {data:?}\nvalidation_fraction = 0.0")
    };
    let config = |augment: &str| {
        TrainConfig::from_toml(
            &format!(
                "[data]\n{source}\n{augment}\n[network]\nhidden = [256, 128]\n\
                 [training]\noptimizer = \"adam\"\nlearning_rate = 0.001\nbatch_size = 128\n\
                 epochs = {epochs}\nseed = 1\nthreads = 1\n"
            ),
            "bench",
        )
    };
    let plain = config("")?;
    let augmented = config(&format!(
        "augment = {{ shift = {shift}, rotate = {rotate} }}"
    ))?;
    let dataset = Dataset::load(plain.data())?;
    let mut runs = Vec::new();
    for (name, config) in [("plain", &plain), ("augmented", &augmented)] {
        let run = train(config, &dataset, name)?;
        println!(
            "{}",
            serde_json::json!({
                "data": data, "run": name, "shift": if name == "plain" { 0.0 } else { shift },
                "rotate": if name == "plain" { 0.0 } else { rotate }, "epochs": epochs,
                "sec_per_epoch": run.wall, "cpu_sec_per_epoch": run.cpu,
                "accuracy": run.accuracy,
                "accuracy_of": if data == "digits" { "validation" } else { "test" },
            })
        );
        runs.push(run);
    }
    println!(
        "{}",
        serde_json::json!({
            "data": data,
            "overhead_wall_pct": 100.0 * (runs[1].wall / runs[0].wall - 1.0),
            "overhead_cpu_pct": 100.0 * (runs[1].cpu / runs[0].cpu - 1.0),
        })
    );
    Ok(())
}

fn train(config: &TrainConfig, data: &Dataset, name: &str) -> Result<Run, nn_core::Error> {
    let (report, cpu_times) = train_timed(config, data, name)?;
    let wall: Vec<f64> = report.history.iter().map(|m| m.seconds).collect();
    Ok(Run {
        wall: median_after_first(&wall),
        cpu: median_after_first(&cpu_times),
        accuracy: report
            .test_accuracy
            .or_else(|| report.history.last().and_then(|m| m.val_accuracy)),
    })
}
