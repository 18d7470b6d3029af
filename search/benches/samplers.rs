//! Sampler quality and speed: bayes, TPE and random on branin (2-D, 50 evaluations),
//! hartmann6 (6-D, 100), ackley 5-D on [-5, 10]^5 (100) and rosenbrock 4-D on [-5, 10]^4
//! (100), `mixed_mlp` (a log float, two integers, a categorical and a float, 100; see
//! `mixed_mlp.rs`), `mixed_train` (the same kinds of columns, smooth, see `mixed_train.rs`; 100), `mixed_schedule`
//! (a six-way choice, a log integer, see `mixed_schedule.rs`; 100), median regret at 25 / 50 / 100 % of the budget over the seeds, time per
//! suggestion; bayes and TPE with 8 trials pending at a time (`--pending N`: N); time per suggestion at fixed history
//! sizes. `bench/peers/samplers.py` runs the peers on the same workloads;
//! `bench/samplers.sh` runs both and prints the side-by-side tables.
//!
//! `cargo bench -p hypersearch-search --bench samplers -- [--seeds N] [--functions a,b]
//! [--samplers bayes,tpe,random] [--no-parallel] [--pending N] [--no-timing] [--validation] [--out FILE.jsonl]`;
//! `--validation` adds levy4, rastrigin3, styblinski_tang5, sphere8 and levy2, which settings
//! are checked on and not reported against the peers;
//! `BENCH_TPE="key = value; …"` adds `[search.tpe]` settings to every study; `BENCH_PRINT_BEST=1`
//! prints each run's best trial, `BENCH_PRINT_TRIALS=SEED` every trial of that seed's runs.

#![allow(clippy::unwrap_used, missing_docs)]

#[path = "samplers/mixed_mlp.rs"]
mod mixed_mlp;
#[path = "samplers/mixed_schedule.rs"]
mod mixed_schedule;
#[path = "samplers/mixed_train.rs"]
mod mixed_train;

use std::collections::VecDeque;
use std::io::Write;
use std::time::Instant;

use hypersearch_search::{
    Params, SampleContext, Sampler, StudyConfig, Suggestion, TrialRecord, TrialState, make_sampler,
};
use rand::{RngExt, SeedableRng};

#[path = "common/mod.rs"]
mod common;
use common::median;

/// One benchmark function: our name, the testfns name, bounds, budget.
struct Workload {
    name: &'static str,
    testfn: &'static str,
    bounds: Vec<(f64, f64)>,
    budget: usize,
    /// Run only when named with `--functions` or asked for with `--validation`: functions
    /// that settings are checked on, so they are not tuned to the four reported ones.
    validation: bool,
}

fn workloads() -> Vec<Workload> {
    vec![
        Workload {
            name: "branin",
            testfn: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            budget: 50,
            validation: false,
        },
        Workload {
            name: "hartmann6",
            testfn: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "ackley5",
            testfn: "ackley",
            bounds: vec![(-5.0, 10.0); 5],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "rosenbrock4",
            testfn: "rosenbrock",
            bounds: vec![(-5.0, 10.0); 4],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "mixed_mlp",
            testfn: "mixed_mlp",
            bounds: vec![],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "mixed_train",
            testfn: "mixed_train",
            bounds: vec![],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "mixed_schedule",
            testfn: "mixed_schedule",
            bounds: vec![],
            budget: 100,
            validation: false,
        },
        Workload {
            name: "levy4",
            testfn: "levy",
            bounds: vec![(-10.0, 10.0); 4],
            budget: 100,
            validation: true,
        },
        Workload {
            name: "rastrigin3",
            testfn: "rastrigin",
            bounds: vec![(-5.12, 5.12); 3],
            budget: 100,
            validation: true,
        },
        Workload {
            name: "styblinski_tang5",
            testfn: "styblinski_tang",
            bounds: vec![(-5.0, 5.0); 5],
            budget: 100,
            validation: true,
        },
        Workload {
            name: "sphere8",
            testfn: "sphere",
            bounds: vec![(-5.12, 5.12); 8],
            budget: 100,
            validation: true,
        },
        Workload {
            name: "levy2",
            testfn: "levy",
            bounds: vec![(-10.0, 10.0); 2],
            budget: 50,
            validation: true,
        },
    ]
}

/// A mixed-space workload (not a testfns function): its space, formula and minimum.
struct Mixed {
    space: &'static str,
    evaluate: fn(&Params) -> f64,
    minimum: fn() -> f64,
}

/// The mixed-space workload `testfn` names, if it is one.
fn mixed(testfn: &str) -> Option<Mixed> {
    match testfn {
        "mixed_mlp" => Some(Mixed {
            space: mixed_mlp::SPACE,
            evaluate: mixed_mlp::evaluate,
            minimum: mixed_mlp::minimum,
        }),
        "mixed_train" => Some(Mixed {
            space: mixed_train::SPACE,
            evaluate: mixed_train::evaluate,
            minimum: mixed_train::minimum,
        }),
        "mixed_schedule" => Some(Mixed {
            space: mixed_schedule::SPACE,
            evaluate: mixed_schedule::evaluate,
            minimum: mixed_schedule::minimum,
        }),
        _ => None,
    }
}

fn study(w: &Workload, algorithm: &str, seed: u64) -> StudyConfig {
    if let Some(m) = mixed(w.testfn) {
        let text = format!(
            "[objective]\ncommand = \"true\"\n[study]\nmetric = \"loss\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {}\nseed = {seed}\n[search.tpe]\n{}\n[search.space]\n{}",
            w.budget,
            std::env::var("BENCH_TPE")
                .unwrap_or_default()
                .replace(';', "\n"),
            m.space
        );
        return StudyConfig::from_toml_str(&text, "bench.toml").unwrap();
    }
    let space: String = w
        .bounds
        .iter()
        .enumerate()
        .map(|(i, (lo, hi))| format!("x{} = {{ float = [{lo:?}, {hi:?}] }}\n", i + 1))
        .collect();
    // BENCH_TPE: extra `[search.tpe]` lines, to compare settings (e.g. "n_ei_candidates = 64").
    let tpe = std::env::var("BENCH_TPE")
        .unwrap_or_default()
        .replace(';', "\n");
    let text = format!(
        "[objective]\nfunction = \"{}\"\n[search]\nalgorithm = \"{algorithm}\"\ntrials = {}\nseed = {seed}\n[search.tpe]\n{tpe}\n[search.space]\n{space}",
        w.testfn, w.budget
    );
    StudyConfig::from_toml_str(&text, "bench.toml").unwrap()
}

fn evaluate(testfn: &str, params: &Params) -> f64 {
    if let Some(m) = mixed(testfn) {
        return (m.evaluate)(params);
    }
    let named: Vec<(String, f64)> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect();
    let refs: Vec<(&str, f64)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    hypersearch_testfns::evaluate_named(testfn, &refs).unwrap()
}

fn minimum(w: &Workload) -> f64 {
    if let Some(m) = mixed(w.testfn) {
        return (m.minimum)();
    }
    hypersearch_testfns::find(w.testfn)
        .unwrap()
        .minimum(w.bounds.len())
}

fn suggest(sampler: &mut dyn Sampler, number: u64, trials: &[TrialRecord]) -> (Params, f64) {
    let start = Instant::now();
    let suggestion = sampler
        .suggest(&SampleContext::new(number, trials))
        .unwrap();
    let seconds = start.elapsed().as_secs_f64();
    match suggestion {
        Suggestion::Params(p) => (p, seconds),
        Suggestion::Exhausted => panic!("a continuous space is never exhausted"),
    }
}

/// Runs one study with `parallel` trials pending at a time (1: sequential): the oldest
/// running trial finishes first. Returns the values in completion order and the mean
/// seconds per suggestion.
fn run(w: &Workload, algorithm: &str, seed: u64, parallel: usize) -> (Vec<f64>, f64) {
    let config = study(w, algorithm, seed);
    let mut sampler = make_sampler(&config).unwrap();
    let mut trials: Vec<TrialRecord> = Vec::new();
    let mut running: VecDeque<usize> = VecDeque::new();
    let mut values = Vec::new();
    let mut spent = 0.0;
    let mut next = 0u64;
    while values.len() < w.budget {
        while running.len() < parallel && (next as usize) < w.budget {
            let (params, seconds) = suggest(sampler.as_mut(), next, &trials);
            spent += seconds;
            trials.push(TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number: next,
                params,
                state: TrialState::Running,
                value: None,
                intermediate: vec![],
            });
            running.push_back(trials.len() - 1);
            next += 1;
        }
        let Some(i) = running.pop_front() else { break };
        let v = evaluate(w.testfn, &trials[i].params);
        trials[i].state = TrialState::Complete;
        trials[i].value = Some(v);
        values.push(v);
    }
    if std::env::var("BENCH_PRINT_TRIALS").is_ok_and(|s| s == seed.to_string()) {
        for t in &trials {
            eprintln!(
                "{} {:.5} {:?}",
                t.number,
                t.value.unwrap() - minimum(w),
                t.params
            );
        }
    }
    if std::env::var_os("BENCH_PRINT_BEST").is_some()
        && let Some(best) = trials
            .iter()
            .filter(|t| t.value.is_some())
            .min_by(|a, b| a.value.unwrap().total_cmp(&b.value.unwrap()))
    {
        eprintln!(
            "best {} {algorithm} seed {seed} parallel {parallel}: {:.6} at trial {} {:?}",
            w.name,
            best.value.unwrap() - minimum(w),
            best.number,
            best.params
        );
    }
    (values, spent / w.budget as f64)
}

fn checkpoints(values: &[f64], budget: usize, min: f64) -> [f64; 3] {
    [0.25, 0.5, 1.0].map(|f| {
        let k = ((budget as f64 * f).round() as usize).max(1);
        values[..k].iter().copied().fold(f64::INFINITY, f64::min) - min
    })
}

/// ms per suggestion with `n` finished random trials on hartmann6 (the peers' timing
/// workload): `cold` is a fresh sampler's first suggestion (hyperparameters fitted from
/// their defaults, with restarts); `warm` the median of 5 suggestions at n, n+1, … of a
/// sampler that has already answered at n − 1 (the steady state of a running study).
fn timing(algorithm: &str, n: usize) -> (f64, f64) {
    let w = Workload {
        name: "hartmann6",
        testfn: "hartmann6",
        bounds: vec![(0.0, 1.0); 6],
        budget: n + 10,
        validation: false,
    };
    let config = study(&w, algorithm, 0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut trials: Vec<TrialRecord> = (0..n as u64)
        .map(|number| {
            let mut params = Params::new();
            for i in 0..6 {
                params.insert(
                    format!("x{}", i + 1),
                    hypersearch_search::ParamValue::Float(rng.random::<f64>()),
                );
            }
            let value = evaluate(w.testfn, &params);
            TrialRecord {
                judged: None,
                intermediate_objectives: Vec::new(),
                number,
                params,
                state: TrialState::Complete,
                value: Some(value),
                intermediate: vec![],
            }
        })
        .collect();
    let cold = {
        let mut sampler = make_sampler(&config).unwrap();
        suggest(sampler.as_mut(), n as u64, &trials).1
    };
    let mut sampler = make_sampler(&config).unwrap();
    let last = trials.pop().unwrap();
    suggest(sampler.as_mut(), n as u64 - 1, &trials);
    trials.push(last);
    let mut times = Vec::new();
    for k in 0..5u64 {
        let (params, seconds) = suggest(sampler.as_mut(), n as u64 + k, &trials);
        times.push(seconds);
        let value = evaluate(w.testfn, &params);
        trials.push(TrialRecord {
            judged: None,
            intermediate_objectives: Vec::new(),
            number: n as u64 + k,
            params,
            state: TrialState::Complete,
            value: Some(value),
            intermediate: vec![],
        });
    }
    (1e3 * cold, 1e3 * median(times))
}

struct Args {
    seeds: u64,
    functions: Option<Vec<String>>,
    samplers: Vec<String>,
    parallel: bool,
    /// Trials running at a time in the parallel rows.
    pending: usize,
    timing: bool,
    validation: bool,
    out: Option<std::fs::File>,
}

fn args() -> Args {
    let mut a = Args {
        seeds: 10,
        functions: None,
        samplers: vec!["bayes".into(), "tpe".into(), "random".into()],
        parallel: true,
        pending: 8,
        timing: true,
        validation: false,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seeds" => a.seeds = it.next().and_then(|v| v.parse().ok()).expect("--seeds N"),
            "--functions" => {
                a.functions = it.next().map(|v| v.split(',').map(String::from).collect())
            }
            "--samplers" => {
                a.samplers = it
                    .next()
                    .expect("--samplers a,b")
                    .split(',')
                    .map(String::from)
                    .collect()
            }
            "--no-parallel" => a.parallel = false,
            "--pending" => {
                a.pending = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&q| q > 1)
                    .expect("--pending N (N >= 2)")
            }
            "--no-timing" => a.timing = false,
            "--validation" => a.validation = true,
            "--out" => {
                a.out = Some(
                    std::fs::File::create(it.next().expect("--out FILE")).expect("writable --out"),
                )
            }
            // cargo bench passes --bench; anything else is a filter we do not use.
            _ => {}
        }
    }
    a
}

fn emit(out: &mut Option<std::fs::File>, line: String) {
    if let Some(f) = out {
        writeln!(f, "{line}").unwrap();
    }
}

fn main() {
    let mut a = args();
    println!("| function | sampler | seeds | regret 25 % | 50 % | 100 % | ms/suggestion |");
    println!("|---|---|---|---|---|---|---|");
    for w in workloads() {
        let chosen = match &a.functions {
            Some(names) => names.iter().any(|n| n == w.name),
            None => !w.validation || a.validation,
        };
        if !chosen {
            continue;
        }
        let min = minimum(&w);
        let mut modes: Vec<(String, String, usize)> = a
            .samplers
            .iter()
            .map(|s| (format!("ours-{s}"), s.clone(), 1))
            .collect();
        if a.parallel {
            // `--samplers evolution` (not run by default) gets its pending row too.
            for s in ["bayes", "tpe", "evolution"] {
                if a.samplers.iter().any(|x| x == s) {
                    let q = a.pending;
                    modes.push((format!("ours-{s}-{q}pending"), s.into(), q));
                }
            }
        }
        for (label, algorithm, parallel) in modes {
            let mut regrets = Vec::new();
            let mut times = Vec::new();
            for seed in 0..a.seeds {
                let (values, seconds) = run(&w, &algorithm, seed, parallel);
                let r = checkpoints(&values, w.budget, min);
                emit(
                    &mut a.out,
                    format!(
                        "{{\"sampler\": \"{label}\", \"function\": \"{}\", \"seed\": {seed}, \"budget\": {}, \"regret\": [{:e}, {:e}, {:e}], \"ms_per_suggestion\": {}}}",
                        w.name,
                        w.budget,
                        r[0],
                        r[1],
                        r[2],
                        seconds * 1e3
                    ),
                );
                regrets.push(r);
                times.push(seconds * 1e3);
            }
            let m = |k: usize| median(regrets.iter().map(|r| r[k]).collect());
            println!(
                "| {} | {label} | {} | {:.3e} | {:.3e} | {:.3e} | {:.2} |",
                w.name,
                a.seeds,
                m(0),
                m(1),
                m(2),
                median(times)
            );
        }
    }
    if a.timing {
        println!(
            "\n| sampler | observations | first suggestion of a fresh sampler (ms) | steady state (ms) |"
        );
        println!("|---|---|---|---|");
        let mut cases: Vec<(&str, usize)> = Vec::new();
        if a.samplers.iter().any(|s| s == "bayes") {
            cases.extend([
                ("bayes", 25),
                ("bayes", 200),
                ("bayes", 400),
                ("bayes", 1000),
            ]);
        }
        if a.samplers.iter().any(|s| s == "tpe") {
            cases.push(("tpe", 400));
        }
        if a.samplers.iter().any(|s| s == "evolution") {
            cases.push(("evolution", 400));
        }
        for (algorithm, n) in cases {
            let (cold, warm) = timing(algorithm, n);
            println!("| {algorithm} | {n} | {cold:.2} | {warm:.2} |");
            emit(
                &mut a.out,
                format!(
                    "{{\"sampler\": \"ours-{algorithm}\", \"timing_observations\": {n}, \"ms_per_suggestion\": {warm}}}"
                ),
            );
            emit(
                &mut a.out,
                format!(
                    "{{\"sampler\": \"ours-{algorithm}-fresh\", \"timing_observations\": {n}, \"ms_per_suggestion\": {cold}}}"
                ),
            );
        }
    }
}
