//! `mixed_schedule`: a third mixed space, with a categorical of six choices (a learning-rate
//! schedule) instead of three, a log-scaled integer, and an integer whose best value depends
//! on the choice. Each schedule has its own best learning rate and warm-up and its own
//! penalty; the best is `cosine`, two others are within 0.003 of it. Smooth otherwise.
//! `bench/peers/samplers.py` has the same formula for the peers.

use hypersearch_search::{ParamValue, Params};

/// The study's `[search.space]` table.
pub const SPACE: &str = r#"lr = { float = [1e-4, 1.0], log = true }
schedule = { choice = ["constant", "step", "cosine", "linear", "exponential", "plateau"] }
warmup = { int = [0, 20] }
units = { int = [32, 1024], log = true }
label_smoothing = { float = [0.0, 0.3] }
"#;

/// Per schedule: the best log10 learning rate, the best warm-up and the schedule's penalty.
fn schedule_terms(schedule: &str) -> (f64, f64, f64) {
    match schedule {
        "constant" => (-2.8, 0.0, 0.012),
        "step" => (-1.9, 2.0, 0.004),
        "cosine" => (-1.3, 6.0, 0.0),
        "linear" => (-1.5, 4.0, 0.002),
        "exponential" => (-2.3, 1.0, 0.007),
        _ => (-1.0, 10.0, 0.003),
    }
}

fn units_term(units: f64) -> f64 {
    0.01 * (units / 256.0).log2().powi(2) / 4.0
}

fn warmup_term(warmup: f64, best: f64) -> f64 {
    0.0008 * (warmup - best - 0.4).powi(2)
}

/// The value at `params` (lower is better).
pub fn evaluate(params: &Params) -> f64 {
    let float = |name: &str| params.get(name).and_then(ParamValue::as_f64).unwrap();
    let schedule = match params.get("schedule") {
        Some(ParamValue::Str(s)) => s.as_str(),
        other => panic!("schedule: {other:?}"),
    };
    let (best_lr, best_warmup, penalty) = schedule_terms(schedule);
    let units = float("units");
    // Wider networks want a smaller learning rate and more smoothing.
    let best_lr = best_lr - 0.3 * (units / 256.0).log2() / 2.0;
    let best_smoothing = 0.1 + 0.05 * (units / 256.0).log2() / 2.0;
    0.2 + 0.04 * (float("lr").log10() - best_lr).powi(2)
        + warmup_term(float("warmup"), best_warmup)
        + units_term(units)
        + 0.2 * (float("label_smoothing") - best_smoothing).powi(2)
        + penalty
}

/// The smallest value: cosine with its best warm-up and 256 units (the learning rate and
/// smoothing terms reach 0 at every width, and the width term is least at 256).
pub fn minimum() -> f64 {
    0.2 + warmup_term(6.0, 6.0) + units_term(256.0)
}
