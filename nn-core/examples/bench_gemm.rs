//! Benchmark: f32 GEMM throughput of the backend (faer, one thread) for a square product and
//! for the products of one training step of the 784-256-128-10 MLP at batch 128, in GFLOP/s
//! of thread CPU time (robust on a shared machine) and of wall time.
//!
//! ```text
//! cargo run --release -p nn-core --example bench_gemm
//! ```

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

#[path = "common/mod.rs"]
mod common;
use common::thread_cpu_seconds;

/// (name, m, k, n, transpose a, transpose b)
const SHAPES: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("square 1024", 1024, 1024, 1024, false, false),
    ("fwd 128x784x256", 128, 784, 256, false, false),
    ("dW 784x128x256 (XT dZ)", 784, 128, 256, true, false),
    ("fwd 128x256x128", 128, 256, 128, false, false),
    ("dX 128x128x256 (dZ WT)", 128, 128, 256, false, true),
    ("dW 256x128x128", 256, 128, 128, true, false),
];

fn main() {
    let mut rows = Vec::new();
    for &(name, m, k, n, ta, tb) in SHAPES {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut c = vec![0.0f32; m * n];
        let flop = 2.0 * (m * k * n) as f64;
        let reps = ((4e10 / flop) as usize).max(3);
        let run = |c: &mut [f32]| {
            let av = if ta {
                MatRef::from_row_major_slice(&a, k, m).transpose()
            } else {
                MatRef::from_row_major_slice(&a, m, k)
            };
            let bv = if tb {
                MatRef::from_row_major_slice(&b, n, k).transpose()
            } else {
                MatRef::from_row_major_slice(&b, k, n)
            };
            matmul(
                MatMut::from_row_major_slice_mut(c, m, n),
                Accum::Replace,
                av,
                bv,
                1.0f32,
                Par::Seq,
            );
        };
        run(&mut c);
        let (wall, cpu) = (Instant::now(), thread_cpu_seconds());
        for _ in 0..reps {
            run(&mut c);
        }
        let wall = wall.elapsed().as_secs_f64();
        let cpu = cpu.zip(thread_cpu_seconds()).map(|(a, b)| b - a);
        let gflop = flop * reps as f64 / 1e9;
        println!(
            "{name:<26} {:>7.1} GFLOP/s (cpu) {:>7.1} GFLOP/s (wall)",
            cpu.map_or(f64::NAN, |c| gflop / c),
            gflop / wall
        );
        rows.push((name, cpu.map(|c| gflop / c)));
    }
    let json: serde_json::Map<String, serde_json::Value> = rows
        .into_iter()
        .map(|(n, g)| (n.to_string(), serde_json::json!(g)))
        .collect();
    println!("{}", serde_json::Value::Object(json));
}
