//! Samplers on two and three objectives, all minimized: hypervolume regret after the budget
//! (the maximum hypervolume minus that of the trials' Pareto front, computed exactly), median
//! over the seeds, and the time of one suggestion at 200 observations (a fresh sampler, and a
//! long-lived one).
//!
//! - BraninCurrin (2-D, 60 trials, reference point (18, 6), maximum hypervolume 59.36);
//! - DTLZ2 (6-D, 2 objectives, 100 trials, reference (1.1, 1.1), maximum 1.21 − π/4);
//! - `dtlz2_3`: DTLZ2 with 3 objectives (6-D, 150 trials, reference (1.1, 1.1, 1.1),
//!   maximum 1.1³ − π/6: the front is the unit sphere's positive octant). Not run by
//!   default: name it in `--functions`.
//!
//! `cargo bench -p hypersearch-search --bench two_objectives -- [--seeds N]
//! [--samplers tpe,bayes,bayes-parego,evolution,random,bayes-8pending,…] [--functions branin_currin,dtlz2,dtlz2_3] [--no-timing]`
//!
//! `bench/peers/samplers.py` does not run these; Optuna's numbers in BENCHMARKS.md come from
//! `bench/peers/two_objectives.py` on the same problems and budgets.

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use hypersearch_search::multi::hypervolume::hypervolume;
use hypersearch_search::multi::pareto::non_dominated_ranks;
use hypersearch_search::{
    ConstraintHandling, Judged, Params, SampleContext, Sampler, StudyConfig, Suggestion,
    TrialRecord, TrialState, make_sampler_with,
};
use rand::{RngExt, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::{arg, median};

struct Problem {
    name: &'static str,
    dims: usize,
    budget: usize,
    /// One coordinate per objective.
    reference: Vec<f64>,
    max_hypervolume: f64,
}

fn problems() -> Vec<Problem> {
    vec![
        Problem {
            name: "branin_currin",
            dims: 2,
            budget: 60,
            reference: vec![18.0, 6.0],
            max_hypervolume: 59.360_118_748_677_46,
        },
        Problem {
            name: "dtlz2",
            dims: 6,
            budget: 100,
            reference: vec![1.1, 1.1],
            max_hypervolume: 1.21 - std::f64::consts::FRAC_PI_4,
        },
        Problem {
            name: "dtlz2_3",
            dims: 6,
            budget: 150,
            reference: vec![1.1, 1.1, 1.1],
            max_hypervolume: 1.331 - std::f64::consts::PI / 6.0,
        },
    ]
}

fn study(p: &Problem, algorithm: &str, seed: u64, trials: usize) -> StudyConfig {
    let space: String = (1..=p.dims)
        .map(|i| format!("x{i} = {{ float = [0.0, 1.0] }}\n"))
        .collect();
    let text = format!(
        "[objective]\nfunction = \"{}\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {trials}\nseed = {seed}\n[search.evolution]\npopulation = 20\n[search.space]\n{space}",
        p.name
    );
    StudyConfig::from_toml_str(&text, "bench.toml").unwrap()
}

/// The sampler `name` names: an algorithm, or `bayes-parego` (bayes scalarizing the
/// objectives by ParEGO, as it did before it modelled each).
fn sampler(p: &Problem, name: &str, seed: u64, trials: usize) -> Box<dyn Sampler> {
    let (algorithm, handling) = match name {
        "bayes-parego" => ("bayes", ConstraintHandling::Penalty),
        other => (other, ConstraintHandling::Feasibility),
    };
    make_sampler_with(&study(p, algorithm, seed, trials), handling).unwrap()
}

fn evaluate(p: &Problem, params: &Params) -> Vec<f64> {
    let named: Vec<(String, f64)> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    let refs: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    hypersearch_testfns::evaluate_metrics(p.name, &refs)
        .unwrap()
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

fn complete(number: u64, params: Params, values: Vec<f64>) -> TrialRecord {
    TrialRecord {
        number,
        params,
        state: TrialState::Complete,
        value: Some(values[0]),
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: Some(Judged {
            values,
            margins: vec![],
        }),
    }
}

fn suggest(sampler: &mut dyn hypersearch_search::Sampler, n: u64, t: &[TrialRecord]) -> Params {
    match sampler.suggest(&SampleContext::new(n, t)).unwrap() {
        Suggestion::Params(p) => p,
        Suggestion::Exhausted => panic!("a continuous space is never exhausted"),
    }
}

/// The hypervolume regret of one study; `name` is a sampler (see [`sampler`]), with
/// `-8pending` keeping 8 trials running (the oldest finishes first) as 8 workers would.
fn regret(p: &Problem, name: &str, seed: u64) -> f64 {
    let (algorithm, in_flight) = match name.strip_suffix("-8pending") {
        Some(algorithm) => (algorithm, 8),
        None => (name, 1),
    };
    let mut sampler = sampler(p, algorithm, seed, p.budget);
    let mut trials: Vec<TrialRecord> = Vec::new();
    let mut running: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let finish = |trials: &mut Vec<TrialRecord>, index: usize| {
        let t = &trials[index];
        trials[index] = complete(t.number, t.params.clone(), evaluate(p, &t.params));
    };
    for number in 0..p.budget as u64 {
        if running.len() == in_flight
            && let Some(oldest) = running.pop_front()
        {
            finish(&mut trials, oldest);
        }
        let params = suggest(sampler.as_mut(), number, &trials);
        trials.push(TrialRecord {
            state: TrialState::Running,
            value: None,
            judged: None,
            ..complete(number, params, vec![f64::NAN])
        });
        running.push_back(trials.len() - 1);
    }
    for index in running {
        finish(&mut trials, index);
    }
    let points: Vec<Vec<f64>> = trials
        .iter()
        .map(|t| t.judged.as_ref().unwrap().values.clone())
        .collect();
    let ranks = non_dominated_ranks(&points);
    let front: Vec<&[f64]> = points
        .iter()
        .zip(&ranks)
        .filter(|&(_, &r)| r == 0)
        .map(|(v, _)| v.as_slice())
        .collect();
    p.max_hypervolume - hypervolume(&front, &p.reference)
}

/// Seconds of one suggestion given 200 complete random observations: (fresh: a new sampler
/// each time, median of 5; steady: one long-lived sampler asked 10 times in a row, each
/// answer completed before the next, median of the 10).
fn time_at_200(p: &Problem, algorithm: &str) -> (f64, f64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut trials: Vec<TrialRecord> = (0..200u64)
        .map(|n| {
            let mut params = Params::new();
            for i in 1..=p.dims {
                params.insert(
                    format!("x{i}"),
                    hypersearch_search::ParamValue::Float(rng.random::<f64>()),
                );
            }
            let values = evaluate(p, &params);
            complete(n, params, values)
        })
        .collect();
    let fresh: Vec<f64> = (0..5)
        .map(|k| {
            let mut sampler = sampler(p, algorithm, 1, 1000);
            let start = Instant::now();
            suggest(sampler.as_mut(), 200 + k, &trials);
            start.elapsed().as_secs_f64()
        })
        .collect();
    let mut sampler = sampler(p, algorithm, 1, 1000);
    let steady: Vec<f64> = (0..10u64)
        .map(|k| {
            let start = Instant::now();
            let params = suggest(sampler.as_mut(), 200 + k, &trials);
            let seconds = start.elapsed().as_secs_f64();
            let values = evaluate(p, &params);
            trials.push(complete(200 + k, params, values));
            seconds
        })
        .collect();
    (median(fresh), median(steady))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = arg(&args, "--seeds").map_or(5, |s| s.parse().unwrap());
    let samplers = arg(&args, "--samplers").unwrap_or_else(|| "tpe,bayes,evolution,random".into());
    let functions = arg(&args, "--functions").unwrap_or_else(|| "branin_currin,dtlz2".into());
    let timing = !args.iter().any(|a| a == "--no-timing");
    println!(
        "| problem | sampler | median HV regret ({seeds} seeds) | min | max | ms / suggestion at 200, fresh / steady |"
    );
    println!("|---|---|---|---|---|---|");
    for p in problems()
        .into_iter()
        .filter(|p| functions.split(',').any(|f| f == p.name))
    {
        for algorithm in samplers.split(',') {
            let regrets: Vec<f64> = (0..seeds).map(|s| regret(&p, algorithm, s)).collect();
            let (lo, hi) = regrets
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &r| {
                    (a.min(r), b.max(r))
                });
            let ms = if timing && !algorithm.ends_with("-8pending") {
                let (fresh, steady) = time_at_200(&p, algorithm);
                format!("{:.1} / {:.1}", 1e3 * fresh, 1e3 * steady)
            } else {
                "-".into()
            };
            println!(
                "| {} | {algorithm} | {:.3} | {lo:.3} | {hi:.3} | {ms} |",
                p.name,
                median(regrets)
            );
        }
    }
}
