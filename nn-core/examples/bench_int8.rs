//! Benchmark: int8 against f32 inference of the same trained 784-256-128-10 ReLU network
//! (Fashion-MNIST IDX files; trained for `--epochs`, 2 by default: the timing does not depend
//! on the accuracy). Both run on one thread from standardized inputs to logits, through the
//! crate's public inference (f32: `Model::logits`, faer GEMMs; int8: `QuantizedModel::logits`,
//! i8 x i8 -> i32 products). Prints, for a batch of one (2,000 test images one by one) and
//! for batches of 256 (the 10,000 test images): this thread's CPU microseconds per image,
//! median of 5 repeats, and the int8/f32 speedup, then one JSON line.
//!
//! ```text
//! cargo run --release -p nn-core --example bench_int8 -- \
//!     --data /usr/share/datasets/fashion-mnist [--epochs 2]
//! ```

use nn_core::ndarray::{Array2, ArrayView2, s};
use nn_core::{Control, Dataset, EpochMetrics, Model, QuantizedModel, TrainConfig};

#[path = "common/mod.rs"]
mod common;
use common::arg;

fn main() {
    common::exit_on_error(run);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Microseconds of this thread's CPU time per image (robust when other processes share the
/// cores), median of 5 repeats: one image at a time over the first 2,000 test images, and
/// batches of 256 over all 10,000.
fn time(x: ArrayView2<'_, f32>, logits: &dyn Fn(ArrayView2<'_, f32>) -> Array2<f32>) -> (f64, f64) {
    let cpu = || common::thread_cpu_seconds().unwrap_or(f64::NAN);
    let singles = 2000.min(x.nrows());
    let mut single = Vec::new();
    let mut batched = Vec::new();
    for _ in 0..5 {
        let started = cpu();
        for i in 0..singles {
            std::hint::black_box(logits(x.slice(s![i..i + 1, ..])));
        }
        single.push((cpu() - started) * 1e6 / singles as f64);
        let started = cpu();
        for start in (0..x.nrows()).step_by(256) {
            let end = (start + 256).min(x.nrows());
            std::hint::black_box(logits(x.slice(s![start..end, ..])));
        }
        batched.push((cpu() - started) * 1e6 / x.nrows() as f64);
    }
    (median(single), median(batched))
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let data = arg(&args, "--data", "/usr/share/datasets/fashion-mnist");
    let epochs: usize = arg(&args, "--epochs", "2").parse()?;
    let text = format!(
        "[data]\nsource = \"idx\"\npath = {data:?}\nvalidation_fraction = 0.0\n\
         [network]\nhidden = [256, 128]\nactivation = \"relu\"\n\
         [training]\nepochs = {epochs}\nseed = 1\nquantize = \"int8\"\n"
    );
    let config = TrainConfig::from_toml(&text, "bench")?;
    let dataset = Dataset::load(config.data())?;
    let trained =
        nn_core::train_model(&config, &dataset, &mut |_: &EpochMetrics| Control::Continue)?;
    let (model, int8): (&Model, &QuantizedModel) = match &trained.int8 {
        Some(int8) => (&trained.model, int8),
        None => return Err("no int8 model".into()),
    };
    let test = dataset.test().ok_or("the data set has no test split")?;
    let mut x = Array2::zeros((test.len(), test.features()));
    for (i, mut row) in x.rows_mut().into_iter().enumerate() {
        row.assign(&test.sample(i).0);
    }
    let (f32_one, f32_batch) = time(x.view(), &|v| model.logits(v));
    let (int8_one, int8_batch) = time(x.view(), &|v| int8.logits(v));
    println!("inference, 784-256-128-10, one thread, µs per image:");
    println!(
        "  batch of 1:   f32 {f32_one:8.2}  int8 {int8_one:8.2}  int8 speedup {:.2}x",
        f32_one / int8_one
    );
    println!(
        "  batch of 256: f32 {f32_batch:8.2}  int8 {int8_batch:8.2}  int8 speedup {:.2}x",
        f32_batch / int8_batch
    );
    println!(
        "{}",
        serde_json::json!({
            "f32_us_batch1": f32_one, "int8_us_batch1": int8_one,
            "f32_us_batch256": f32_batch, "int8_us_batch256": int8_batch,
            "f32_test_accuracy": trained.report.test_accuracy,
            "int8_test_accuracy": trained.report.int8.as_ref().and_then(|r| r.int8_test_accuracy),
            "model_bytes": model.bytes(), "int8_model_bytes": int8.bytes(),
        })
    );
    Ok(())
}
