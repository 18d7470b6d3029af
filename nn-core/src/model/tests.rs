//! The inference model against the training network it comes from.

use ndarray::{Array1, Array2};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::config::TrainConfig;
use crate::network::pass::{self, Mode, Workspace};

/// A network of `network` (a `[network]` table body) with random weights and batch-norm
/// parameters and statistics far from their initial values, and a random standardization.
fn random_network(network: &str, features: usize, seed: u64) -> (Network, Standardization) {
    let text = format!("[data]\nsource = \"digits\"\n[network]\n{network}\n");
    let config = TrainConfig::from_toml(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    let mut net =
        Network::new(config.network(), features, 5, seed).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for (l, p) in net.params.hidden.iter_mut().enumerate() {
        if let Some(bn) = &mut p.bn {
            bn.gamma.mapv_inplace(|_| rng.random_range(0.5..2.0));
            bn.beta.mapv_inplace(|_| rng.random_range(-1.0..1.0));
        }
        if let Some(b) = &mut p.bias {
            b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
        }
        if let Some(running) = &mut net.hidden[l].running {
            running.mean.mapv_inplace(|_| rng.random_range(-2.0..2.0));
            running.var.mapv_inplace(|_| rng.random_range(0.1..4.0));
        }
    }
    if let Some(b) = &mut net.params.output.bias {
        b.mapv_inplace(|_| rng.random_range(-0.5..0.5));
    }
    let standardization = Standardization {
        mean: Array1::from_shape_fn(features, |_| rng.random_range(0.0..10.0)),
        scale: Array1::from_shape_fn(features, |_| rng.random_range(0.1..2.0)),
    };
    (net, standardization)
}

fn random_input(rows: usize, features: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((rows, features), |_| rng.random_range(-2.0..2.0))
}

/// The training network's own inference-mode logits.
fn network_logits(net: &mut Network, x: &Array2<f32>) -> Array2<f32> {
    let mut ws = Workspace::new(net, x.nrows());
    ws.input.assign(x);
    pass::forward(net, &mut ws, x.nrows(), Mode::Eval, Threads::One);
    ws.logits(x.nrows()).to_owned()
}

fn max_difference(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max)
}

#[test]
fn folded_batch_norm_gives_the_logits_of_the_unfolded_network() {
    for activation in ["relu", "tanh", "gelu"] {
        let (mut net, standardization) = random_network(
            &format!(
                "hidden = [16, 16, 8]\nbatch_norm = true\nresidual = true\nactivation = \"{activation}\""
            ),
            12,
            3,
        );
        let model = Model::from_network(&net, &standardization);
        assert!(model.hidden()[1].residual && !model.hidden()[0].residual);
        let x = random_input(40, 12, 4);
        let expected = network_logits(&mut net, &x);
        let folded = model.logits(x.view());
        let difference = max_difference(&folded, &expected);
        assert!(difference < 1e-5, "{activation}: off by {difference}");
        // Folding changed the weights: the comparison is not of a network with itself.
        assert!(
            max_difference(
                &model.hidden()[0].weights,
                &net.params.hidden[0].w.t().to_owned()
            ) > 0.01
        );
    }
}

#[test]
fn a_network_without_batch_norm_keeps_its_weights_and_biases() {
    let (mut net, standardization) = random_network("hidden = [10]", 6, 9);
    let model = Model::from_network(&net, &standardization);
    assert_eq!(model.hidden()[0].weights, net.params.hidden[0].w.t());
    assert_eq!(
        Some(&model.hidden()[0].bias),
        net.params.hidden[0].bias.as_ref()
    );
    assert_eq!(model.parameter_count(), net.parameter_count());
    assert_eq!(model.bytes(), 4 * (6 * 10 + 10 + 10 * 5 + 5));
    let x = random_input(7, 6, 1);
    assert!(max_difference(&model.logits(x.view()), &network_logits(&mut net, &x)) < 1e-6);
}

#[test]
fn probabilities_standardize_raw_samples_and_sum_to_one() {
    let (net, standardization) = random_network("hidden = [10]", 6, 2);
    let model = Model::from_network(&net, &standardization);
    let raw = random_input(9, 6, 5).mapv(|v| v * 3.0 + 4.0);
    let standardized = (&raw - &standardization.mean) * &standardization.scale;
    let probabilities = model.probabilities(raw.view());
    let from_logits = softmax(model.logits(standardized.view()));
    assert_eq!(probabilities, from_logits);
    for row in probabilities.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-6);
    }
}

#[test]
fn shapes_that_do_not_chain_are_refused_with_the_layer_named() {
    let (net, standardization) = random_network("hidden = [10]", 6, 2);
    let model = Model::from_network(&net, &standardization);
    let mut hidden = model.hidden().to_vec();
    hidden[0].bias = Array1::zeros(3);
    let err = Model::new(
        standardization.clone(),
        hidden,
        model.output().clone(),
        model.activation(),
    );
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("layer 1 has 10 outputs but 3 biases"),
        "{message}"
    );
    let ok = Model::new(
        standardization,
        model.hidden().to_vec(),
        model.output().clone(),
        model.activation(),
    );
    assert_eq!(ok.ok().as_ref(), Some(&model));
}
