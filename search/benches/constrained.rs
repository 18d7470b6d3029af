//! Samplers on constrained single-objective problems: median final *feasible* regret (the
//! best feasible value found minus the constrained optimum; a run that finds nothing
//! feasible counts as an infinite regret, and the runs without a feasible trial are
//! counted), the share of feasible trials after the first ten, and the time of one
//! suggestion at 200 observations (a fresh sampler, and a long-lived one).
//!
//! - `gardner` (Gardner et al. 2014): min cos(2x)·cos(y) + sin(x) on [0, 6]² s.t.
//!   cos(x)·cos(y) − sin(x)·sin(y) ≤ 0.5; 40 trials.
//! - `gramacy` (Gramacy et al. 2016): min x₁ + x₂ on [0, 1]² s.t.
//!   1.5 − x₁ − 2x₂ − 0.5·sin(2π(x₁² − 2x₂)) ≤ 0 and x₁² + x₂² − 1.5 ≤ 0; 40 trials
//!   (optimum 0.5998 on the boundary).
//! - `branin_disk`: Branin-Hoo on [−5, 10] × [0, 15] s.t. (x₁ − 2.5)² + (x₂ − 7.5)² ≤ 25, a
//!   disk that excludes all three unconstrained minima, so the optimum lies on its
//!   boundary; 40 trials.
//!
//! Samplers: `bayes` (probability of feasibility), `bayes-penalty` (infeasible trials
//! penalized in the scalarized history, the behaviour before), `tpe`, `random`.
//!
//! `cargo bench -p hypersearch-search --bench constrained -- [--seeds N] [--workers Q]
//! [--samplers bayes,bayes-penalty,tpe,random] [--functions gardner,gramacy,branin_disk]
//! [--no-timing]`
//!
//! With `--workers Q`, Q trials run at once: each suggestion sees the other Q − 1 as
//! running, and the oldest running trial completes before the next suggestion.
//! Optuna's GPSampler with `constraints_func` on the same problems: `bench/peers/constrained.py`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::time::Instant;

use hypersearch_search::{
    ConstraintHandling, ParamValue, Params, SampleContext, Sampler, StudyConfig, Suggestion,
    TrialRecord, TrialState, make_sampler_with,
};
use rand::{RngExt, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::{arg, median};

struct Problem {
    name: &'static str,
    /// Bounds per input.
    bounds: [(f64, f64); 2],
    /// The constraints as written in `[study] constraints`.
    constraints: &'static [&'static str],
    budget: usize,
    /// The objective and the constraint metrics (`c1`, `c2`) at a point.
    eval: fn(&[f64; 2]) -> (f64, Vec<f64>),
}

fn gardner(x: &[f64; 2]) -> (f64, Vec<f64>) {
    let (a, b) = (x[0], x[1]);
    let f = (2.0 * a).cos() * b.cos() + a.sin();
    (f, vec![a.cos() * b.cos() - a.sin() * b.sin()])
}

fn gramacy(x: &[f64; 2]) -> (f64, Vec<f64>) {
    let (a, b) = (x[0], x[1]);
    let c1 = 1.5 - a - 2.0 * b - 0.5 * (2.0 * PI * (a * a - 2.0 * b)).sin();
    (a + b, vec![c1, a * a + b * b - 1.5])
}

fn branin_disk(x: &[f64; 2]) -> (f64, Vec<f64>) {
    let (a, b) = (x[0], x[1]);
    let t = b - 5.1 / (4.0 * PI * PI) * a * a + 5.0 / PI * a - 6.0;
    let f = t * t + 10.0 * (1.0 - 1.0 / (8.0 * PI)) * a.cos() + 10.0;
    (f, vec![(a - 2.5).powi(2) + (b - 7.5).powi(2)])
}

fn problems() -> Vec<Problem> {
    vec![
        Problem {
            name: "gardner",
            bounds: [(0.0, 6.0), (0.0, 6.0)],
            constraints: &["c1 <= 0.5"],
            budget: 40,
            eval: gardner,
        },
        Problem {
            name: "gramacy",
            bounds: [(0.0, 1.0), (0.0, 1.0)],
            constraints: &["c1 <= 0", "c2 <= 0"],
            budget: 40,
            eval: gramacy,
        },
        Problem {
            name: "branin_disk",
            bounds: [(-5.0, 10.0), (0.0, 15.0)],
            constraints: &["c1 <= 25"],
            budget: 40,
            eval: branin_disk,
        },
    ]
}

fn study(p: &Problem, algorithm: &str, seed: u64, trials: usize) -> StudyConfig {
    let constraints: Vec<String> = p.constraints.iter().map(|c| format!("\"{c}\"")).collect();
    let space: String = p
        .bounds
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("x{i} = {{ float = [{lo:?}, {hi:?}] }}\n"))
        .collect();
    let text = format!(
        "[study]\nmetric = \"f\"\nconstraints = [{}]\n[objective]\ncommand = \"train.sh\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {trials}\nseed = {seed}\n[search.space]\n{space}",
        constraints.join(", ")
    );
    StudyConfig::from_toml_str(&text, "bench.toml").unwrap()
}

fn sampler(p: &Problem, name: &str, seed: u64, trials: usize) -> Box<dyn Sampler> {
    let (algorithm, handling) = match name {
        "bayes-penalty" => ("bayes", ConstraintHandling::Penalty),
        other => (other, ConstraintHandling::Feasibility),
    };
    make_sampler_with(&study(p, algorithm, seed, trials), handling).unwrap()
}

fn point(params: &Params) -> [f64; 2] {
    [0, 1].map(|i| params.get(&format!("x{i}")).unwrap().as_f64().unwrap())
}

/// A finished trial judged against `p`'s constraints.
fn complete(p: &Problem, config: &StudyConfig, number: u64, params: Params) -> TrialRecord {
    let (f, constraint_values) = (p.eval)(&point(&params));
    let mut metrics = BTreeMap::from([("f".to_string(), f)]);
    for (i, v) in constraint_values.into_iter().enumerate() {
        metrics.insert(format!("c{}", i + 1), v);
    }
    let judged = config.objectives.judge(&metrics).unwrap();
    TrialRecord {
        number,
        params,
        state: TrialState::Complete,
        value: Some(f),
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: Some(judged),
    }
}

fn running(number: u64, params: Params) -> TrialRecord {
    TrialRecord {
        number,
        params,
        state: TrialState::Running,
        value: None,
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: None,
    }
}

fn suggest(sampler: &mut dyn Sampler, n: u64, t: &[TrialRecord]) -> Params {
    match sampler.suggest(&SampleContext::new(n, t)).unwrap() {
        Suggestion::Params(p) => p,
        Suggestion::Exhausted => panic!("a continuous space is never exhausted"),
    }
}

/// One study: its trials, `workers` at a time.
fn run(p: &Problem, name: &str, seed: u64, workers: usize) -> Vec<TrialRecord> {
    let config = study(p, "random", seed, p.budget);
    let mut sampler = sampler(p, name, seed, p.budget);
    let mut trials: Vec<TrialRecord> = Vec::new();
    for number in 0..p.budget as u64 {
        let params = suggest(sampler.as_mut(), number, &trials);
        trials.push(running(number, params));
        let last = number + 1 == p.budget as u64;
        loop {
            let oldest = trials.iter().position(|t| t.state == TrialState::Running);
            let in_flight = trials
                .iter()
                .filter(|t| t.state == TrialState::Running)
                .count();
            let Some(i) = oldest.filter(|_| in_flight >= workers || last) else {
                break;
            };
            trials[i] = complete(p, &config, trials[i].number, trials[i].params.clone());
        }
    }
    trials
}

/// The best feasible value of a study (`None`: nothing feasible) and its share of feasible
/// trials after the first ten.
fn outcome(trials: &[TrialRecord]) -> (Option<f64>, f64) {
    let feasible = |t: &TrialRecord| t.judged.as_ref().is_some_and(|j| j.feasible());
    let best = trials
        .iter()
        .filter(|t| feasible(t))
        .filter_map(|t| t.value)
        .reduce(f64::min);
    let late: Vec<&TrialRecord> = trials.iter().skip(10).collect();
    let share = late.iter().filter(|t| feasible(t)).count() as f64 / late.len().max(1) as f64;
    (best, share)
}

/// The constrained optimum: the best feasible point of a 1501² grid, refined by shrinking
/// 41² grids around it.
fn reference_optimum(p: &Problem) -> f64 {
    let feasible_value = |x: &[f64; 2]| {
        let (f, c) = (p.eval)(x);
        let config_bounds = p.constraints.iter().zip(&c).all(|(text, &v)| {
            let bound: f64 = text.rsplit(' ').next().unwrap().parse().unwrap();
            v <= bound
        });
        config_bounds.then_some(f)
    };
    let [(a0, a1), (b0, b1)] = p.bounds;
    let mut best = (f64::INFINITY, [a0, b0]);
    let grid = |center: [f64; 2], half: [f64; 2], steps: usize, best: &mut (f64, [f64; 2])| {
        for i in 0..=steps {
            for j in 0..=steps {
                let x = [
                    (center[0] - half[0] + 2.0 * half[0] * i as f64 / steps as f64).clamp(a0, a1),
                    (center[1] - half[1] + 2.0 * half[1] * j as f64 / steps as f64).clamp(b0, b1),
                ];
                if let Some(f) = feasible_value(&x)
                    && f < best.0
                {
                    *best = (f, x);
                }
            }
        }
    };
    let mut half = [(a1 - a0) / 2.0, (b1 - b0) / 2.0];
    grid([(a0 + a1) / 2.0, (b0 + b1) / 2.0], half, 1500, &mut best);
    for _ in 0..80 {
        half = [half[0] * 0.7, half[1] * 0.7].map(|h| h.max(1e-12));
        let center = best.1;
        grid(center, [half[0] / 20.0, half[1] / 20.0], 40, &mut best);
    }
    best.0
}

/// Seconds of one suggestion given 200 complete random trials: (fresh: a new sampler each
/// time, median of 5; steady: one long-lived sampler asked 10 times in a row, each answer
/// completed before the next, median of the 10).
fn time_at_200(p: &Problem, name: &str) -> (f64, f64) {
    let config = study(p, "random", 1, 1000);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut trials: Vec<TrialRecord> = (0..200u64)
        .map(|n| {
            let mut params = Params::new();
            for (i, (lo, hi)) in p.bounds.iter().enumerate() {
                let v = lo + (hi - lo) * rng.random::<f64>();
                params.insert(format!("x{i}"), ParamValue::Float(v));
            }
            complete(p, &config, n, params)
        })
        .collect();
    let fresh: Vec<f64> = (0..5)
        .map(|k| {
            let mut sampler = sampler(p, name, 1, 1000);
            let start = Instant::now();
            suggest(sampler.as_mut(), 200 + k, &trials);
            start.elapsed().as_secs_f64()
        })
        .collect();
    let mut long_lived = sampler(p, name, 1, 1000);
    let steady: Vec<f64> = (0..10u64)
        .map(|k| {
            let start = Instant::now();
            let params = suggest(long_lived.as_mut(), 200 + k, &trials);
            let seconds = start.elapsed().as_secs_f64();
            trials.push(complete(p, &config, 200 + k, params));
            seconds
        })
        .collect();
    (median(fresh), median(steady))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds").map_or(10, |s| s.parse().unwrap());
    let workers: usize = arg(&args, "--workers").map_or(1, |s| s.parse().unwrap());
    let samplers = arg(&args, "--samplers").unwrap_or_else(|| "bayes,bayes-penalty".into());
    let functions =
        arg(&args, "--functions").unwrap_or_else(|| "gardner,gramacy,branin_disk".into());
    let timing = !args.iter().any(|a| a == "--no-timing");
    println!(
        "| problem | sampler | median feasible regret ({seeds} seeds, {workers} in flight) | geo. mean | none feasible | feasible after 10 | ms / suggestion at 200, fresh / steady |"
    );
    println!("|---|---|---|---|---|---|---|");
    for p in problems()
        .into_iter()
        .filter(|p| functions.split(',').any(|f| f == p.name))
    {
        let optimum = reference_optimum(&p);
        for name in samplers.split(',') {
            let outcomes: Vec<(Option<f64>, f64)> = (0..seeds)
                .map(|s| outcome(&run(&p, name, s, workers)))
                .collect();
            let regrets: Vec<f64> = outcomes
                .iter()
                .map(|(best, _)| best.map_or(f64::INFINITY, |b| (b - optimum).max(1e-12)))
                .collect();
            let none = regrets.iter().filter(|r| r.is_infinite()).count();
            let geo = (regrets.iter().map(|r| r.ln()).sum::<f64>() / regrets.len() as f64).exp();
            let share = median(outcomes.iter().map(|o| o.1).collect());
            let ms = if timing {
                let (fresh, steady) = time_at_200(&p, name);
                format!("{:.1} / {:.1}", 1e3 * fresh, 1e3 * steady)
            } else {
                "-".into()
            };
            println!(
                "| {} (f* = {optimum:.7}) | {name} | {:.2e} | {geo:.2e} | {none} | {:.0}% | {ms} |",
                p.name,
                median(regrets),
                100.0 * share
            );
        }
    }
}
