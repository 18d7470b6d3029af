//! Sampler quality on an architecture search: a cheap surrogate of an MLP's validation error
//! over the space of `examples/digits-search.toml` (1–3 hidden layers, units per layer from
//! {32, 64, 128, 256}, dropout per layer, activation, batch norm, log learning rate, batch
//! size, log weight decay: conditional and mixed), 60 trials, median regret at 25 / 50 /
//! 100 % of the budget over the seeds, sequential and with 8 trials pending.
//!
//! The surrogate is made up, not fitted to real runs: a floor plus penalties that have the
//! shapes architecture searches meet (a best depth and total width, funnels beat widening
//! layers, each layer's best dropout grows with its width, the best learning rate moves with
//! batch norm, batch size and depth, activations and batch norm interact). Every continuous
//! optimum lies inside its bounds, so the minimum is the best discrete combination's and is
//! found by enumeration.
//!
//! `cargo bench -p hypersearch-search --bench architecture -- [--seeds N]
//! [--samplers evolution,tpe,random,bayes] [--no-parallel] [--evolution "population = 10;
//! sample_size = 3"]` (the last: `[search.evolution]` lines for every study)

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::VecDeque;

use hypersearch_search::{
    Params, SampleContext, StudyConfig, Suggestion, TrialRecord, TrialState, make_sampler,
};

#[path = "common/mod.rs"]
mod common;
use common::median;

const BUDGET: usize = 60;
const UNITS: [f64; 4] = [32.0, 64.0, 128.0, 256.0];
const ACTIVATIONS: [&str; 4] = ["relu", "elu", "swish", "tanh"];
const BATCHES: [f64; 4] = [16.0, 32.0, 64.0, 128.0];

fn study(algorithm: &str, seed: u64, evolution: &str) -> StudyConfig {
    let text = format!(
        r#"
[objective]
command = "surrogate"
[study]
metric = "val_error"
[search]
algorithm = "{algorithm}"
trials = {BUDGET}
seed = {seed}
[search.space]
lr = {{ float = [1e-4, 3e-2], log = true }}
batch_size = {{ choice = [16, 32, 64, 128] }}
l2 = {{ float = [1e-6, 1e-2], log = true }}
[search.architecture]
layers = {{ int = [1, 3] }}
units = {{ choice = [32, 64, 128, 256] }}
activation = {{ choice = ["relu", "elu", "swish", "tanh"] }}
dropout = {{ float = [0.0, 0.5] }}
batch_norm = {{ choice = [true, false] }}
[search.evolution]
{evolution}
"#
    );
    StudyConfig::from_toml_str(&text, "architecture.toml").unwrap()
}

/// The discrete part of a point.
struct Shape<'a> {
    units: &'a [f64],
    activation: &'a str,
    batch_norm: bool,
    batch_size: f64,
}

/// The penalty no continuous setting removes.
fn discrete_error(s: &Shape<'_>) -> f64 {
    let depth = s.units.len() as f64;
    let total: f64 = s.units.iter().sum();
    let widening = s.units.windows(2).filter(|w| w[1] > w[0]).count() as f64;
    let activation = match s.activation {
        "relu" => 0.0,
        "swish" => 0.001,
        "elu" => 0.002,
        _ => 0.010,
    };
    let batch_norm = match (s.batch_norm, s.activation) {
        (true, "tanh") => -0.006,
        (true, _) => 0.002,
        (false, _) => 0.0,
    };
    0.015
        + 0.004 * (depth - 2.0).powi(2)
        + 0.006 * (total.log2() - 8.5).powi(2)
        + 0.004 * widening
        + activation
        + batch_norm
}

/// The best log10 learning rate for a shape (inside [-4, log10 3e-2]).
fn best_log_lr(s: &Shape<'_>) -> f64 {
    -2.6 + if s.batch_norm { 0.4 } else { 0.0 } + 0.2 * (s.batch_size / 32.0).log2()
        - 0.2 * (s.units.len() as f64 - 1.0)
}

/// The best dropout of a layer of `units` (inside [0, 0.5]).
fn best_dropout(units: f64) -> f64 {
    0.05 + 0.25 * (units.log2() - 5.0) / 3.0
}

fn surrogate(p: &Params) -> f64 {
    let f = |k: &str| p[k].as_f64().unwrap();
    let depth = p["arch.layers"].as_i64().unwrap() as usize;
    let units: Vec<f64> = (1..=depth).map(|k| f(&format!("arch.units_{k}"))).collect();
    let shape = Shape {
        units: &units,
        activation: match &p["arch.activation"] {
            hypersearch_search::ParamValue::Str(s) => s.as_str(),
            _ => unreachable!(),
        },
        batch_norm: p["arch.batch_norm"] == hypersearch_search::ParamValue::Bool(true),
        batch_size: f("batch_size"),
    };
    let dropout: f64 = (1..=depth)
        .map(|k| (f(&format!("arch.dropout_{k}")) - best_dropout(units[k - 1])).powi(2))
        .sum();
    discrete_error(&shape)
        + 0.08 * dropout
        + 0.02 * (f("lr").log10() - best_log_lr(&shape)).powi(2)
        + 0.003 * (f("l2").log10() + 4.5).powi(2)
}

/// The surrogate's minimum: the best discrete combination (continuous terms at zero).
fn minimum() -> f64 {
    let mut best = f64::INFINITY;
    for depth in 1..=3u32 {
        for code in 0..4usize.pow(depth) {
            let units: Vec<f64> = (0..depth)
                .map(|k| UNITS[code / 4usize.pow(k) % 4])
                .collect();
            for activation in ACTIVATIONS {
                for batch_norm in [true, false] {
                    for batch_size in BATCHES {
                        let s = Shape {
                            units: &units,
                            activation,
                            batch_norm,
                            batch_size,
                        };
                        assert!((-4.0..=0.03f64.log10()).contains(&best_log_lr(&s)));
                        best = best.min(discrete_error(&s));
                    }
                }
            }
        }
    }
    best
}

/// The values in completion order with `parallel` trials pending (the oldest finishes first).
fn run(algorithm: &str, seed: u64, parallel: usize, evolution: &str) -> Vec<f64> {
    let config = study(algorithm, seed, evolution);
    let mut sampler = make_sampler(&config).unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    let mut running: VecDeque<usize> = VecDeque::new();
    let mut values = Vec::new();
    while values.len() < BUDGET {
        while running.len() < parallel && trials.len() < BUDGET {
            let number = trials.len() as u64;
            let ctx = SampleContext::new(number, &trials);
            let Suggestion::Params(params) = sampler.suggest(&ctx).unwrap() else {
                panic!("a space with floats is never exhausted");
            };
            trials.push(TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params,
                state: TrialState::Running,
                value: None,
                intermediate: vec![],
            });
            running.push_back(trials.len() - 1);
        }
        let Some(i) = running.pop_front() else { break };
        let v = surrogate(&trials[i].params);
        trials[i].state = TrialState::Complete;
        trials[i].value = Some(v);
        values.push(v);
    }
    values
}

fn main() {
    let mut seeds = 10u64;
    let mut samplers: Vec<String> = ["evolution", "tpe", "random", "bayes"]
        .map(String::from)
        .to_vec();
    let mut parallel = true;
    let mut evolution = String::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" => seeds = it.next().and_then(|v| v.parse().ok()).expect("--seeds N"),
            "--samplers" => {
                samplers = it
                    .next()
                    .expect("--samplers a,b")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--no-parallel" => parallel = false,
            "--evolution" => evolution = it.next().expect("--evolution LINES").replace(';', "\n"),
            _ => {}
        }
    }
    let min = minimum();
    println!("surrogate minimum {min:.6}; regret = best value so far - minimum");
    println!("[search.evolution] {:?}\n", evolution.trim());
    println!("| sampler | pending | seeds | regret 25 % | 50 % | 100 % |");
    println!("|---|---|---|---|---|---|");
    let pendings: &[usize] = if parallel { &[1, 8] } else { &[1] };
    for &pending in pendings {
        for algorithm in &samplers {
            let regrets: Vec<[f64; 3]> = (0..seeds)
                .map(|seed| {
                    let values = run(algorithm, seed, pending, &evolution);
                    [0.25, 0.5, 1.0].map(|f| {
                        let k = ((BUDGET as f64 * f).round() as usize).max(1);
                        values[..k].iter().copied().fold(f64::INFINITY, f64::min) - min
                    })
                })
                .collect();
            let m = |k: usize| median(regrets.iter().map(|r| r[k]).collect());
            println!(
                "| {algorithm} | {pending} | {seeds} | {:.2e} | {:.2e} | {:.2e} |",
                m(0),
                m(1),
                m(2)
            );
        }
    }
}
