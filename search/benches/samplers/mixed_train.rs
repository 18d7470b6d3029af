//! `mixed_train`: a second mixed space, unlike `mixed_mlp` in kind: no ripples, a learning
//! rate whose best value moves with the batch size, the depth and the optimizer, a weight
//! decay whose best value moves with the depth, and optimizers that differ in their best
//! learning rate by two decades. A smooth function of its five inputs once the integers and
//! the categorical are fixed, so what it measures is how a sampler handles the integers and
//! the categorical, not how it copes with ruggedness. `bench/peers/samplers.py` has the same
//! formula for the peers.

use hypersearch_search::{ParamValue, Params};

/// The study's `[search.space]` table.
pub const SPACE: &str = r#"lr = { float = [1e-5, 1.0], log = true }
batch_size = { int = [16, 512] }
layers = { int = [1, 8] }
optimizer = { choice = ["sgd", "momentum", "adam"] }
weight_decay = { float = [0.0, 0.01] }
"#;

/// Per optimizer: the best log10 learning rate at batch 64 and depth 4, and its penalty.
fn optimizer_terms(optimizer: &str) -> (f64, f64) {
    match optimizer {
        "sgd" => (-1.0, 0.02),
        "momentum" => (-1.8, 0.006),
        _ => (-3.0, 0.0),
    }
}

fn batch_term(batch: f64) -> f64 {
    0.003 * (batch / 96.0).log2().powi(2)
}

fn layers_term(layers: f64) -> f64 {
    0.004 * (layers - 3.6).powi(2)
}

/// The value at `params` (lower is better).
pub fn evaluate(params: &Params) -> f64 {
    let float = |name: &str| params.get(name).and_then(ParamValue::as_f64).unwrap();
    let optimizer = match params.get("optimizer") {
        Some(ParamValue::Str(s)) => s.as_str(),
        other => panic!("optimizer: {other:?}"),
    };
    let (base_lr, penalty) = optimizer_terms(optimizer);
    let (batch, layers) = (float("batch_size"), float("layers"));
    let best_lr = base_lr + 0.5 * (batch / 64.0).log10() - 0.1 * (layers - 4.0);
    let best_decay = 0.002 * layers / 4.0;
    0.1 + 0.06 * (float("lr").log10() - best_lr).powi(2)
        + batch_term(batch)
        + layers_term(layers)
        + 400.0 * (float("weight_decay") - best_decay).powi(2)
        + penalty
}

/// The smallest value: with adam, the learning rate and weight decay terms reach 0 at every
/// batch size and depth, so it is the best integer batch size and depth.
pub fn minimum() -> f64 {
    let best = |range: std::ops::RangeInclusive<i32>, f: fn(f64) -> f64| {
        range.map(|h| f(f64::from(h))).fold(f64::INFINITY, f64::min)
    };
    0.1 + best(16..=512, batch_term) + best(1..=8, layers_term)
}
