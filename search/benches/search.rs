//! Speed of the search library's hot paths, and TPE's search quality, on the workloads of
//! `bench/peers/search_speed.py` (Optuna's TPE and pruners), which runs the same ones.
//!
//! `cargo bench -p hypersearch-search --bench search`

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use hypersearch_search::{
    Decision, Params, SampleContext, StudyConfig, Suggestion, TrialRecord, TrialState, make_pruner,
    make_sampler,
};
use rand::{RngExt, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::median;

/// A function study: `function` over `bounds` per input.
fn study(
    function: &str,
    bounds: &[(f64, f64)],
    algorithm: &str,
    trials: u64,
    seed: u64,
) -> StudyConfig {
    let space: String = bounds
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("x{} = {{ float = [{lo:?}, {hi:?}] }}\n", i + 1))
        .collect();
    let text = format!(
        "[objective]\nfunction = \"{function}\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {trials}\nseed = {seed}\n[search.space]\n{space}"
    );
    StudyConfig::from_toml_str(&text, "bench.toml").unwrap()
}

/// Runs a study sequentially; returns the best-so-far values and the trials. At each
/// history size in `probe`, also times 21 repeated suggestions for the same next trial
/// (a pure function of the history: the median is the cost, robust to a busy machine).
fn run(
    config: &StudyConfig,
    function: &str,
    probe: &[usize],
) -> (Vec<f64>, Vec<(usize, f64, f64)>) {
    let mut sampler = make_sampler(config).unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    let (mut best, mut times) = (Vec::new(), Vec::new());
    let mut incumbent = f64::INFINITY;
    for number in 0..config.search.trials {
        let ctx = SampleContext::new(number, &trials);
        if probe.contains(&trials.len()) {
            let mut t: Vec<f64> = (0..21)
                .map(|_| {
                    let start = Instant::now();
                    std::hint::black_box(sampler.suggest(&ctx).unwrap());
                    start.elapsed().as_secs_f64()
                })
                .collect();
            t.sort_by(f64::total_cmp);
            times.push((trials.len(), t[10], t[0]));
        }
        let suggestion = sampler.suggest(&ctx).unwrap();
        let Suggestion::Params(params) = suggestion else {
            break;
        };
        let x: Vec<(String, f64)> = params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
            .collect();
        let refs: Vec<(&str, f64)> = x.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let value = hypersearch_testfns::evaluate_named(function, &refs).unwrap();
        incumbent = incumbent.min(value);
        best.push(incumbent);
        trials.push(TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params,
            state: TrialState::Complete,
            value: Some(value),
            intermediate: vec![],
        });
    }
    (best, times)
}

fn tpe_time_per_suggestion() {
    let bounds = vec![(0.0, 1.0); 6];
    let config = study("hartmann6", &bounds, "tpe", 401, 0);
    let (_, times) = run(&config, "hartmann6", &[25, 200, 400]);
    println!("TPE time per suggestion, hartmann6 (6-D continuous), median / min of 21:");
    for (n, median, min) in times {
        println!(
            "  {n:>4} observations: {:8.3} ms / {:8.3} ms",
            1e3 * median,
            1e3 * min
        );
    }
}

/// A TPE quality case: label, test function, bounds, budget.
type QualityCase = (&'static str, &'static str, Vec<(f64, f64)>, u64);

fn tpe_quality() {
    // SEEDS=n in the environment changes the number of seeds (the peer script reads it too).
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "TPE median regret over {seeds} seeds (25% / 50% / 100% of the budget; geometric mean at 100%):"
    );
    let cases: [QualityCase; 4] = [
        ("branin", "branin", vec![(-5.0, 10.0), (0.0, 15.0)], 50),
        ("hartmann6", "hartmann6", vec![(0.0, 1.0); 6], 100),
        ("ackley5", "ackley", vec![(-5.0, 10.0); 5], 100),
        ("rosenbrock4", "rosenbrock", vec![(-5.0, 10.0); 4], 100),
    ];
    for (label, function, bounds, budget) in cases {
        let minimum = hypersearch_testfns::find(function)
            .unwrap()
            .minimum(bounds.len());
        let runs: Vec<Vec<f64>> = (0..seeds)
            .map(|seed| {
                run(
                    &study(function, &bounds, "tpe", budget, seed),
                    function,
                    &[],
                )
                .0
            })
            .collect();
        let at = |fraction: f64| {
            let i = ((budget as f64 * fraction) as usize).max(1) - 1;
            median(runs.iter().map(|r| r[i] - minimum).collect())
        };
        let final_regrets: Vec<f64> = runs
            .iter()
            .map(|r| (r[r.len() - 1] - minimum).max(1e-12))
            .collect();
        let geo =
            (final_regrets.iter().map(|r| r.ln()).sum::<f64>() / final_regrets.len() as f64).exp();
        println!(
            "  {label:<12} {:10.4} {:10.4} {:10.4} {geo:10.4}",
            at(0.25),
            at(0.5),
            at(1.0)
        );
    }
}

/// `n` completed trials with 20-epoch curves (loss decreasing, seeded) and a running one.
fn pruning_history(n: u64) -> (Vec<TrialRecord>, TrialRecord) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let curve = |rng: &mut rand_chacha::ChaCha8Rng, epochs: u32| -> Vec<(u32, f64)> {
        let start: f64 = 1.0 + rng.random::<f64>();
        let rate: f64 = 0.05 + 0.1 * rng.random::<f64>();
        (1..=epochs)
            .map(|e| (e, start * (-rate * f64::from(e)).exp()))
            .collect()
    };
    let trials: Vec<TrialRecord> = (0..n)
        .map(|number| {
            let intermediate = curve(&mut rng, 20);
            TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params: Params::new(),
                state: TrialState::Complete,
                value: intermediate.last().map(|p| p.1),
                intermediate,
            }
        })
        .collect();
    let mut running = TrialRecord {
        judged: None,
        intermediate_objectives: Vec::new(),
        number: n,
        params: Params::new(),
        state: TrialState::Running,
        value: None,
        intermediate: curve(&mut rng, 9),
    };
    // A middling value at epoch 9, a rung of every ladder below.
    running.intermediate.last_mut().unwrap().1 =
        median(trials.iter().map(|t| t.intermediate[8].1).collect());
    (trials, running)
}

fn pruner_time() {
    println!(
        "Pruner decision time (fastest of 20 batches of 1,000), completed trials × 20 epochs told \
         to the rule, a running trial at epoch 9:"
    );
    for n in [1_000, 100_000] {
        let (trials, running) = pruning_history(n);
        for rule in [
            "rule = \"median\"",
            "rule = \"asha\"\nreduction_factor = 3\nmin_resource = 1",
            "rule = \"hyperband\"\nreduction_factor = 3\nmin_resource = 1\nmax_resource = 20",
        ] {
            let text = format!(
                "[objective]\nfunction = \"sphere\"\n[search]\ntrials = 10\n[search.space]\nx1 = {{ float = [0, 1] }}\n[early_stopping]\n{rule}\n"
            );
            let config = StudyConfig::from_toml_str(&text, "bench.toml").unwrap();
            let mut pruner = make_pruner(&config);
            for t in &trials {
                pruner.observe(t);
            }
            // The fastest of 20 batches: robust to other work on a shared machine.
            let mut stops = 0;
            let mut micros = f64::INFINITY;
            for _ in 0..20 {
                let start = Instant::now();
                for _ in 0..1000 {
                    if let Decision::Stop(_) = std::hint::black_box(pruner.decide(&running)) {
                        stops += 1;
                    }
                }
                micros = micros.min(start.elapsed().as_secs_f64() * 1e3);
            }
            let name = rule.lines().next().unwrap_or_default();
            println!(
                "  {n:>7} trials  {name:<22} {micros:8.3} µs per decision (stopped: {})",
                stops > 0
            );
        }
    }
}

/// The time of one suggestion from a long-lived sampler that has seen a history of `n`
/// random completed trials (6-D, hartmann6), one new trial arriving between suggestions:
/// the steady state of a large study (median of 21).
fn steady_suggestion_ms(algorithm: &str, n: u64) -> f64 {
    let bounds = vec![(0.0, 1.0); 6];
    let config = study("hartmann6", &bounds, algorithm, n + 100, 0);
    let mut sampler = make_sampler(&config).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut trials: Vec<TrialRecord> = Vec::with_capacity(n as usize + 30);
    let add = |trials: &mut Vec<TrialRecord>, rng: &mut rand_chacha::ChaCha8Rng| {
        let x: Vec<f64> = (0..6).map(|_| rng.random::<f64>()).collect();
        let params: Params = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                (
                    format!("x{}", i + 1),
                    hypersearch_search::ParamValue::Float(v),
                )
            })
            .collect();
        let named: Vec<(String, f64)> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| (format!("x{}", i + 1), v))
            .collect();
        let refs: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let value = hypersearch_testfns::evaluate_named("hartmann6", &refs).unwrap();
        let number = trials.len() as u64;
        trials.push(TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number,
            params,
            state: TrialState::Complete,
            value: Some(value),
            intermediate: vec![],
        });
    };
    for _ in 0..n {
        add(&mut trials, &mut rng);
    }
    let none: [u64; 0] = [];
    // The first call takes in the whole history; the steady state follows.
    sampler
        .suggest(&SampleContext::with_changes(n, &trials, &none))
        .unwrap();
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            add(&mut trials, &mut rng);
            let number = trials.len() as u64;
            let start = Instant::now();
            std::hint::black_box(
                sampler
                    .suggest(&SampleContext::with_changes(number, &trials, &none))
                    .unwrap(),
            );
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[10]
}

fn large_history_time(cases: &[(&str, &[u64])]) {
    println!("Suggestion time in a large study (steady state, median of 21), hartmann6 6-D:");
    for &(algorithm, sizes) in cases {
        for &n in sizes {
            let ms = steady_suggestion_ms(algorithm, n);
            println!("  {algorithm:<6} {n:>7} observations: {ms:9.3} ms");
        }
    }
}

fn main() {
    // `cargo bench … -- NAME` runs only the parts whose name contains NAME.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    if wanted("pruners") {
        pruner_time();
    }
    if wanted("tpe-time") {
        tpe_time_per_suggestion();
    }
    if wanted("large-history") {
        large_history_time(&[
            ("random", &[1_000, 100_000]),
            ("tpe", &[1_000, 10_000, 100_000]),
        ]);
    }
    if wanted("large-bayes") {
        large_history_time(&[("bayes", &[1_000, 10_000])]);
    }
    if wanted("tpe-quality") {
        tpe_quality();
    }
}
