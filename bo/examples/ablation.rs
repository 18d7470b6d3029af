//! Ablation of the engine's options on the sampler benchmark's functions (not the
//! benchmark itself: that is `search/benches/samplers.rs`). Median regret at
//! half and full budget over the seeds, engine called directly on the unit cube.
//!
//! `cargo run --release -p hypersearch-bo --example ablation -- [SEEDS] [FUNCTION,...]`
//! (branin, hartmann6, ackley5 and rosenbrock4 unless named; levy4, rastrigin3 and
//! styblinski_tang5 only when named) with
//! `WARP=0|1|select` (output warping off / always / selected by evidence), `ACQ=ei|hedge`,
//! `TR=0|1|2` (trust region off / always / alternate), `LOCAL=0|1`, `INIT=n`, `DIAG=1`, `TRACE=1` (best
//! regret every 10 evaluations, or every `TRACE_EVERY=k`), `BUDGET=n` (evaluations per run), `LIAR=best|kb|mean|believed|fantS`, `TAKEOVER=0|1`
//! (pending points count towards the initial design), `EXPLOIT=k` (every k-th point
//! minimizes the posterior mean; 0: never), `LOCAL_PER_DIM=k`, `LOCAL_FRACTION=f` (the
//! local model's neighbourhood), `TR_MIN_SIDE=s` (trust-region restart threshold), `PENDING=q` (q trials running at a time, the oldest
//! finishing first, as in the benchmark's parallel mode), `EXPLOIT_CAP=k` (with q in flight,
//! the posterior-mean step every max(EXPLOIT, min(q, k))), `TR_Q=f` (with q in flight, the
//! trust region halves after max(d, ⌈f·q⌉) failures in a row), `BATCH_KAPPA=k|off` (the κ of the LCB
//! that replaces log-EI with points in flight and, unless `SEQ_LCB=0`, one at a time; off: log-EI), `SEQ_LCB=0` (without points in flight,
//! log-EI instead of that LCB), `LIAR=mean` (unclipped kriging believer),
//! `LOCAL_SCALE=0|1` (the local fit in cube units / in units of the neighbourhood's extent).

#![allow(clippy::unwrap_used, clippy::type_complexity, missing_docs)]
use hypersearch_bo::{Column, Engine, History, Settings};
use std::time::Instant;

/// A test function of `hypersearch-testfns` on its benchmark box, evaluated at a point of
/// the unit cube.
fn on_box(name: &str, bounds: &[(f64, f64)], u: &[f64]) -> f64 {
    let x: Vec<f64> = u
        .iter()
        .zip(bounds)
        .map(|(v, (lo, hi))| lo + v * (hi - lo))
        .collect();
    hypersearch_testfns::find(name)
        .unwrap()
        .evaluate(&x)
        .unwrap()
}
fn branin(u: &[f64]) -> f64 {
    on_box("branin", &[(-5.0, 10.0), (0.0, 15.0)], u)
}
fn hartmann6(u: &[f64]) -> f64 {
    on_box("hartmann6", &[(0.0, 1.0); 6], u)
}
fn ackley(u: &[f64]) -> f64 {
    on_box("ackley", &[(-5.0, 10.0); 5], u)
}
fn rosenbrock(u: &[f64]) -> f64 {
    on_box("rosenbrock", &[(-5.0, 10.0); 4], u)
}
fn levy4(u: &[f64]) -> f64 {
    on_box("levy", &[(-10.0, 10.0); 4], u)
}
fn rastrigin3(u: &[f64]) -> f64 {
    on_box("rastrigin", &[(-5.12, 5.12); 3], u)
}
fn styblinski_tang5(u: &[f64]) -> f64 {
    on_box("styblinski_tang", &[(-5.0, 5.0); 5], u)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let only: Option<String> = args.get(2).cloned();
    let funcs: Vec<(&str, fn(&[f64]) -> f64, usize, usize, f64)> = vec![
        ("branin", branin, 2, 50, 0.397887357729738),
        ("hartmann6", hartmann6, 6, 100, -3.322368011391339),
        ("ackley5", ackley, 5, 100, 0.0),
        ("rosenbrock4", rosenbrock, 4, 100, 0.0),
        ("levy4", levy4, 4, 100, 0.0),
        ("rastrigin3", rastrigin3, 3, 100, 0.0),
        (
            "styblinski_tang5",
            styblinski_tang5,
            5,
            100,
            -39.166_165_703_771_41 * 5.0,
        ),
    ];
    // The validation functions run only when named.
    let validation = ["levy4", "rastrigin3", "styblinski_tang5"];
    let warp = match std::env::var("WARP").as_deref() {
        Ok("0") => hypersearch_bo::OutputWarping::Off,
        Ok("1") => hypersearch_bo::OutputWarping::Always,
        _ => hypersearch_bo::OutputWarping::Select,
    };
    let acq = if std::env::var("ACQ").is_ok_and(|v| v == "hedge") {
        hypersearch_bo::AcquisitionChoice::Hedge
    } else {
        hypersearch_bo::AcquisitionChoice::LogEi
    };
    let tr = match std::env::var("TR").as_deref() {
        Ok("0") => hypersearch_bo::TrustRegion::Off,
        Ok("1") => hypersearch_bo::TrustRegion::Always,
        Ok("2") => hypersearch_bo::TrustRegion::Alternate,
        _ => Settings::default().trust_region,
    };
    let init: Option<usize> = std::env::var("INIT").ok().and_then(|v| v.parse().ok());
    let trace = std::env::var("TRACE").is_ok();
    let trace_every: usize = std::env::var("TRACE_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let liar = match std::env::var("LIAR").as_deref() {
        Ok("best") => hypersearch_bo::Liar::Best,
        Ok("kb") => hypersearch_bo::Liar::KrigingBeliever,
        Ok("mean") => hypersearch_bo::Liar::Mean,
        Ok("believed") => hypersearch_bo::Liar::Believed,
        Ok(v) if v.starts_with("fant") => {
            hypersearch_bo::Liar::Fantasies(v[4..].parse().unwrap_or(16))
        }
        _ => Settings::default().liar,
    };
    let pending: usize = std::env::var("PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let budget_override: Option<usize> = std::env::var("BUDGET").ok().and_then(|v| v.parse().ok());
    for (name, f, d, budget, fmin) in funcs {
        let budget = budget_override.unwrap_or(budget);
        let named = only.as_deref().map(|o| o.split(',').any(|n| n == name));
        if named == Some(false) || (named.is_none() && validation.contains(&name)) {
            continue;
        }
        let mut finals = vec![];
        let mut halves = vec![];
        let start = Instant::now();
        for seed in 0..seeds {
            let settings = Settings {
                design_seed: seed,
                output_warping: warp,
                initial_design: init,
                acquisition: acq,
                trust_region: tr,
                liar,
                design_counts_pending: std::env::var("TAKEOVER")
                    .map(|v| v == "1")
                    .unwrap_or(Settings::default().design_counts_pending),
                local_points_per_dimension: std::env::var("LOCAL_PER_DIM")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().local_points_per_dimension),
                local_fraction: std::env::var("LOCAL_FRACTION")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().local_fraction),
                trust_region_min_side: std::env::var("TR_MIN_SIDE")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().trust_region_min_side),
                exploit_every: std::env::var("EXPLOIT")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().exploit_every),
                exploit_in_flight_cap: std::env::var("EXPLOIT_CAP")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().exploit_in_flight_cap),
                region_failures_in_flight: std::env::var("TR_Q")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(Settings::default().region_failures_in_flight),
                lcb_kappa: match std::env::var("BATCH_KAPPA").as_deref() {
                    Ok("off") => None,
                    Ok(v) => v.parse().ok(),
                    Err(_) => Settings::default().lcb_kappa,
                },
                sequential_lcb: std::env::var("SEQ_LCB").map_or(true, |v| v != "0"),
                local_model: std::env::var("LOCAL").map(|v| v != "0").unwrap_or(true),
                local_model_scaled: std::env::var("LOCAL_SCALE")
                    .map(|v| v != "0")
                    .unwrap_or(true),
                ..Settings::default()
            };
            let mut engine = Engine::new(vec![Column::Continuous; d], settings).unwrap();
            let (mut pts, mut vals) = (vec![], vec![]);
            // Running points, oldest first (the oldest finishes first, as in the bench).
            let mut running: std::collections::VecDeque<Vec<f64>> = Default::default();
            let mut best = f64::INFINITY;
            let mut best_x = vec![];
            let mut suggested = 0usize;
            while vals.len() < budget {
                while running.len() < pending.max(1) && suggested < budget {
                    let flat: Vec<f64> = running.iter().flatten().copied().collect();
                    let h = History {
                        points: &pts,
                        values: &vals,
                        pending: &flat,
                    };
                    let x = engine
                        .suggest(&h, 1, seed * 1000 + suggested as u64)
                        .unwrap()
                        .remove(0);
                    running.push_back(x);
                    suggested += 1;
                }
                let x = running.pop_front().unwrap();
                let v = f(&x);
                if v - fmin < best {
                    best_x = x.clone();
                }
                best = best.min(v - fmin);
                vals.push(v);
                pts.extend(x);
                if vals.len() == budget / 2 {
                    halves.push(best);
                }
                if trace && vals.len() % trace_every == 0 {
                    print!(" {best:.1e}");
                    if vals.len() == budget {
                        println!("  (seed {seed})");
                    }
                }
            }
            finals.push(best);
            if std::env::var("DIAG").is_ok() {
                let p = engine.hyperparameters().unwrap();
                println!(
                    "  seed {seed}: best {best:.3e} at {:?} ls {:?} c {:.3} noise {:.2e}",
                    best_x
                        .iter()
                        .map(|u| format!("{:.3}", -5.0 + 15.0 * u))
                        .collect::<Vec<_>>(),
                    p.inverse_squared_lengthscales
                        .iter()
                        .map(|l| format!("{:.2}", 1.0 / l.sqrt()))
                        .collect::<Vec<_>>(),
                    p.signal,
                    p.noise
                );
            }
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                0.5 * (v[n / 2 - 1] + v[n / 2])
            }
        };
        let el = start.elapsed().as_secs_f64() / (seeds as f64 * budget as f64);
        // Geometric mean of the final regrets (floored at 1e-12): less jumpy than the
        // median when seeds split between a trapped and a converged outcome.
        let gmean =
            10f64.powf(finals.iter().map(|v| v.max(1e-12).log10()).sum::<f64>() / seeds as f64);
        println!(
            "{name:12} half {:.3e} final {:.3e} gmean {gmean:.3e}  ({:.1} ms/suggest) all: {:?}",
            med(&mut halves),
            med(&mut finals.clone()),
            el * 1e3,
            finals
                .iter()
                .map(|v| format!("{v:.2e}"))
                .collect::<Vec<_>>()
        );
    }
}
