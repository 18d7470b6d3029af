//! Time per suggestion of the engine at fixed history sizes, as the sampler benchmark
//! measures it (random hartmann6 history; one suggestion at n − 1, then the steady state:
//! the median of `REPEATS` suggestions at n, n+1, …), plus the amortized cost of the
//! scheduled refits over `AMORTIZE` suggestions. For profiling (`perf record`) and quick
//! checks; the benchmark of record is `search/benches/samplers.rs`.
//!
//! `cargo run --release -p hypersearch-bo --example latency -- [N ...]` (default 25 200 400
//! 1000), `REPEATS=5`, `AMORTIZE=0`, `FRESH=0` (skip the fresh sampler's suggestion),
//! `PENDING=q` (every suggestion made with q − 1 other random points in flight, as one of
//! q parallel workers: the pending path).

#![allow(clippy::unwrap_used, missing_docs)]
use hypersearch_bo::{Column, Engine, History, Settings};
use rand::{RngExt, SeedableRng};
use std::time::Instant;

fn hartmann6(u: &[f64]) -> f64 {
    hypersearch_testfns::find("hartmann6")
        .unwrap()
        .evaluate(u)
        .unwrap()
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![25, 200, 400, 1000]
    } else {
        sizes
    };
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (repeats, amortize) = (env("REPEATS", 5), env("AMORTIZE", 0));
    let in_flight = env("PENDING", 1).max(1);
    println!("| observations | fresh (ms) | steady state (ms) | amortized over {amortize} (ms) |");
    println!("|---|---|---|---|");
    for n in sizes {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut points: Vec<f64> = (0..n * 6).map(|_| rng.random::<f64>()).collect();
        let mut values: Vec<f64> = points.chunks(6).map(hartmann6).collect();
        let pending: Vec<f64> = (0..(in_flight - 1) * 6)
            .map(|_| rng.random::<f64>())
            .collect();
        let settings = Settings {
            initial_design: Some(10),
            ..Settings::default()
        };
        let engine = Engine::new(vec![Column::Continuous; 6], settings).unwrap();
        let suggest = |engine: &mut Engine, points: &[f64], values: &[f64], seed: u64| {
            let h = History {
                points,
                values,
                pending: &pending,
            };
            let start = Instant::now();
            let x = engine.suggest(&h, 1, seed).unwrap().remove(0);
            (x, start.elapsed().as_secs_f64() * 1e3)
        };
        let fresh = if std::env::var("FRESH").is_ok_and(|v| v == "0") {
            f64::NAN
        } else {
            suggest(&mut engine.clone(), &points, &values, n as u64).1
        };
        let mut warm = engine.clone();
        suggest(&mut warm, &points[..(n - 1) * 6], &values[..n - 1], 1);
        let mut times = Vec::new();
        for k in 0..repeats.max(amortize) {
            let (x, ms) = suggest(&mut warm, &points, &values, (n + k) as u64);
            times.push(ms);
            values.push(hartmann6(&x));
            points.extend(x);
        }
        let mut steady = times[..repeats].to_vec();
        steady.sort_by(f64::total_cmp);
        let amortized = if amortize > 0 {
            format!("{:.2}", times.iter().sum::<f64>() / times.len() as f64)
        } else {
            "–".into()
        };
        println!(
            "| {n} | {fresh:.2} | {:.2} | {amortized} |",
            steady[steady.len() / 2]
        );
    }
}
