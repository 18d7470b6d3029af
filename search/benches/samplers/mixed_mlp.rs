//! `mixed_mlp`: a cheap stand-in for tuning a two-layer network, over the kind of space users
//! search (a log-scaled float, two integers, a categorical, a float), with the interactions
//! such spaces have: the best learning rate depends on the activation, the best dropout on
//! the width, and the widths have small ripples a smooth model has to learn to ignore.
//! `bench/peers/samplers.py` has the same formula for the peers.

use hypersearch_search::{ParamValue, Params};

/// The study's `[search.space]` table.
pub const SPACE: &str = r#"lr = { float = [1e-4, 1e-1], log = true }
hidden1 = { int = [50, 300] }
hidden2 = { int = [20, 200] }
activation = { choice = ["relu", "tanh", "sigmoid"] }
dropout = { float = [0.0, 0.5] }
"#;

/// Per activation: the best log10 learning rate and the activation's own penalty.
fn activation_terms(activation: &str) -> (f64, f64) {
    match activation {
        "relu" => (-2.6, 0.0),
        "tanh" => (-2.1, 0.004),
        _ => (-1.4, 0.012),
    }
}

fn width1_term(h1: f64) -> f64 {
    0.03 * (h1 / 170.0).ln().powi(2) + 0.002 * (1.0 - (std::f64::consts::TAU * h1 / 25.0).cos())
}

fn width2_term(h2: f64) -> f64 {
    0.04 * ((h2 - 70.0) / 100.0).powi(2) + 0.002 * (1.0 - (std::f64::consts::TAU * h2 / 9.0).cos())
}

/// The value at `params` (lower is better).
pub fn evaluate(params: &Params) -> f64 {
    let float = |name: &str| params.get(name).and_then(ParamValue::as_f64).unwrap();
    let activation = match params.get("activation") {
        Some(ParamValue::Str(s)) => s.as_str(),
        other => panic!("activation: {other:?}"),
    };
    let (best_lr, penalty) = activation_terms(activation);
    let (h1, h2) = (float("hidden1"), float("hidden2"));
    let best_dropout = 0.15 + 0.2 * (h1 - 50.0) / 250.0;
    0.08 + 0.05 * (float("lr").log10() - best_lr).powi(2)
        + width1_term(h1)
        + width2_term(h2)
        + 0.3 * (float("dropout") - best_dropout).powi(2)
        + penalty
}

/// The smallest value: the learning rate and dropout terms reach 0, so it is the best
/// activation plus the best integer widths.
pub fn minimum() -> f64 {
    let best = |range: std::ops::RangeInclusive<i32>, f: fn(f64) -> f64| {
        range.map(|h| f(f64::from(h))).fold(f64::INFINITY, f64::min)
    };
    0.08 + best(50..=300, width1_term) + best(20..=200, width2_term)
}
