//! Gradient checks by central finite differences: every parameter of small networks covering
//! every activation, batch norm in training mode, dropout with a fixed mask, residual
//! connections and the softmax cross-entropy loss.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::pass::{self, Mode, Workspace};
use super::{Network, Parameters, Role};
use crate::config::{Activation, Init, NetworkConfig};
use crate::linalg::Threads;

const FEATURES: usize = 5;
const CLASSES: usize = 3;
const ROWS: usize = 7;

fn config(
    hidden: &[usize],
    activation: Activation,
    batch_norm: bool,
    dropout: f32,
    residual: bool,
) -> NetworkConfig {
    NetworkConfig {
        hidden: hidden.to_vec(),
        activation,
        batch_norm,
        dropout: vec![dropout; hidden.len()],
        residual,
        init: Init::Xavier,
    }
}

/// Mean loss of the batch in `ws` at the current parameters (fixed dropout key).
fn loss(net: &mut Network, ws: &mut Workspace) -> f64 {
    let (sum, _) = pass::forward_loss(net, ws, ROWS, Mode::Train { dropout_key: 99 }, Threads::One);
    sum / ROWS as f64
}

/// The `i`-th trainable value (in [`Parameters::tensors_mut`] order).
fn value_mut(params: &mut Parameters, i: usize) -> &mut f32 {
    let mut rest = i;
    for (_, t) in params.tensors_mut() {
        if rest < t.len() {
            return &mut t[rest];
        }
        rest -= t.len();
    }
    panic!("parameter {i} is out of range");
}

fn check(cfg: &NetworkConfig) {
    let mut net = Network::new(cfg, FEATURES, CLASSES, 5).unwrap_or_else(|e| panic!("{e}"));
    // Biases and batch-norm parameters away from their neutral start, so their gradients
    // are exercised in general position.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for (role, t) in net.params.tensors_mut() {
        if role == Role::Other {
            t.iter_mut()
                .for_each(|p| *p += rng.random_range(-0.3f32..0.3));
        }
    }
    let mut ws = Workspace::new(&net, ROWS);
    ws.input
        .iter_mut()
        .for_each(|v| *v = rng.random_range(-1.5f32..1.5));
    for (i, l) in ws.labels.iter_mut().enumerate() {
        *l = (i % CLASSES) as u32;
    }
    let mut grads = net.params.zeros_like();
    loss(&mut net, &mut ws);
    pass::backward(&net, &mut ws, &mut grads, ROWS, Threads::One);
    let grads: Vec<f32> = grads
        .tensors()
        .flat_map(|(_, t)| t.iter().copied())
        .collect();
    assert_eq!(grads.len(), net.parameter_count());
    // ReLU-like kinks make one step size unreliable near 0: a gradient passes when one of a
    // few step sizes agrees (a wrong gradient agrees with none).
    for (i, &grad) in grads.iter().enumerate() {
        let analytic = f64::from(grad);
        let mut errors = Vec::new();
        for h in [1e-2f32, 3e-3, 1e-3, 3e-4] {
            let orig = *value_mut(&mut net.params, i);
            *value_mut(&mut net.params, i) = orig + h;
            let up = loss(&mut net, &mut ws);
            *value_mut(&mut net.params, i) = orig - h;
            let down = loss(&mut net, &mut ws);
            *value_mut(&mut net.params, i) = orig;
            let numeric = (up - down) / (2.0 * f64::from(h));
            errors.push((
                numeric,
                (numeric - analytic).abs() / (numeric.abs().max(analytic.abs()) + 1e-2),
            ));
        }
        assert!(
            errors.iter().any(|(_, err)| *err < 2e-2),
            "{cfg:?}: parameter {i}: backprop {analytic}, finite differences {errors:?}"
        );
    }
    assert!(
        grads.iter().any(|g| g.abs() > 1e-3),
        "{cfg:?}: all gradients vanish: the check proves nothing"
    );
}

#[test]
fn dense_layers_with_every_activation() {
    for act in [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Swish,
        Activation::Gelu,
    ] {
        check(&config(&[6, 4], act, false, 0.0, false));
    }
}

#[test]
fn softmax_cross_entropy_alone() {
    check(&config(&[], Activation::Relu, false, 0.0, false));
}

#[test]
fn batch_norm_in_training_mode() {
    check(&config(&[6, 4], Activation::Tanh, true, 0.0, false));
    check(&config(&[6], Activation::Relu, true, 0.0, false));
}

#[test]
fn dropout_with_a_fixed_mask() {
    check(&config(&[8, 6], Activation::Swish, false, 0.4, false));
    check(&config(&[8], Activation::Elu, true, 0.3, false));
}

#[test]
fn residual_connections() {
    check(&config(&[5, 5, 5], Activation::Tanh, false, 0.0, true));
    check(&config(&[6, 6], Activation::Gelu, true, 0.2, true));
}
