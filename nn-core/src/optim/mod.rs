//! Optimizers (SGD, momentum, Adam, AdamW) as one fused pass per tensor over the parameters,
//! their gradients and the optimizer's moments (arrays of the same shapes), and gradient
//! clipping by global norm.
//!
//! L2 (`training.l2`) applies to the weight matrices only, not to biases or batch-norm
//! parameters: added to the gradient for SGD, momentum and Adam, as decoupled weight decay for
//! AdamW.

use crate::config::Optimizer;
use crate::linalg::vectorized;
use crate::network::{Parameters, Role};

/// Adam's first-moment decay.
const BETA1: f32 = 0.9;
/// Adam's second-moment decay.
const BETA2: f32 = 0.999;
/// Adam's denominator offset.
const EPSILON: f32 = 1e-8;

/// The per-parameter state of an optimizer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per training run")]
enum Moments {
    Sgd,
    Momentum { velocity: Parameters },
    Adam { m: Parameters, v: Parameters },
}

/// An optimizer with its per-parameter state.
#[derive(Debug)]
pub(crate) struct OptimizerState {
    kind: Optimizer,
    momentum: f32,
    l2: f32,
    moments: Moments,
    step: i32,
}

impl OptimizerState {
    /// State for parameters shaped like `params`.
    pub(crate) fn new(kind: Optimizer, momentum: f64, l2: f64, params: &Parameters) -> Self {
        let moments = match kind {
            Optimizer::Sgd => Moments::Sgd,
            Optimizer::Momentum => Moments::Momentum {
                velocity: params.zeros_like(),
            },
            Optimizer::Adam | Optimizer::AdamW => Moments::Adam {
                m: params.zeros_like(),
                v: params.zeros_like(),
            },
        };
        Self {
            kind,
            momentum: momentum as f32,
            l2: l2 as f32,
            moments,
            step: 0,
        }
    }

    /// Applies one update with learning rate `lr`.
    /// The moments' tensors, in a fixed order, and the step count: what a checkpoint keeps.
    pub(crate) fn state(&self) -> (Vec<&[f32]>, i32) {
        let tensors = match &self.moments {
            Moments::Sgd => Vec::new(),
            Moments::Momentum { velocity } => velocity.tensors().map(|(_, t)| t).collect(),
            Moments::Adam { m, v } => m.tensors().chain(v.tensors()).map(|(_, t)| t).collect(),
        };
        (tensors, self.step)
    }

    /// [`OptimizerState::state`] to be overwritten, and the step count.
    pub(crate) fn state_mut(&mut self) -> (Vec<&mut [f32]>, &mut i32) {
        let tensors = match &mut self.moments {
            Moments::Sgd => Vec::new(),
            Moments::Momentum { velocity } => velocity.tensors_mut().map(|(_, t)| t).collect(),
            Moments::Adam { m, v } => m
                .tensors_mut()
                .chain(v.tensors_mut())
                .map(|(_, t)| t)
                .collect(),
        };
        (tensors, &mut self.step)
    }

    pub(crate) fn step(&mut self, params: &mut Parameters, grads: &Parameters, lr: f32) {
        self.step = self.step.saturating_add(1);
        let l2 = self.l2;
        let l2_of = |role: Role| if role == Role::Weight { l2 } else { 0.0 };
        let tensors = params.tensors_mut().zip(grads.tensors().map(|(_, g)| g));
        match &mut self.moments {
            Moments::Sgd => {
                for ((role, p), g) in tensors {
                    let l2 = l2_of(role);
                    vectorized(
                        #[inline(always)]
                        || sgd(p, g, lr, l2),
                    );
                }
            }
            Moments::Momentum { velocity } => {
                let mu = self.momentum;
                for (((role, p), g), (_, m)) in tensors.zip(velocity.tensors_mut()) {
                    let l2 = l2_of(role);
                    vectorized(
                        #[inline(always)]
                        || momentum(p, g, m, lr, mu, l2),
                    );
                }
            }
            Moments::Adam { m, v } => {
                let c = AdamStep::new(lr, self.step);
                let decoupled = self.kind == Optimizer::AdamW;
                for ((((role, p), g), (_, m)), (_, v)) in
                    tensors.zip(m.tensors_mut()).zip(v.tensors_mut())
                {
                    // AdamW shrinks the weights before the step instead of adding L2 to the
                    // gradient.
                    let (l2, decay) = match (decoupled, role) {
                        (true, Role::Weight) => (0.0, 1.0 - lr * l2),
                        (true, Role::Other) => (0.0, 1.0),
                        (false, role) => (l2_of(role), 1.0),
                    };
                    vectorized(
                        #[inline(always)]
                        || adam(p, g, m, v, c, l2, decay),
                    );
                }
            }
        }
    }
}

#[inline(always)]
fn sgd(p: &mut [f32], g: &[f32], lr: f32, l2: f32) {
    for (p, g) in p.iter_mut().zip(g) {
        *p -= lr * (g + l2 * *p);
    }
}

#[inline(always)]
fn momentum(p: &mut [f32], g: &[f32], m: &mut [f32], lr: f32, mu: f32, l2: f32) {
    for ((p, g), m) in p.iter_mut().zip(g).zip(m.iter_mut()) {
        *m = mu * *m + g + l2 * *p;
        *p -= lr * *m;
    }
}

/// The per-step constants of Adam's bias correction.
#[derive(Clone, Copy)]
struct AdamStep {
    /// lr / (1 − β₁ᵗ).
    step_size: f32,
    /// 1 / √(1 − β₂ᵗ).
    inv_sqrt_bc2: f32,
}

impl AdamStep {
    fn new(lr: f32, t: i32) -> Self {
        let bc1 = 1.0 - f64::from(BETA1).powi(t);
        let bc2 = 1.0 - f64::from(BETA2).powi(t);
        Self {
            step_size: (f64::from(lr) / bc1) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
        }
    }
}

/// p ← decay·p − step_size · m̂ / (√v̂ + ε), with g + l2·p as the gradient; one pass.
#[inline(always)]
fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: AdamStep, l2: f32, decay: f32) {
    for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = g + l2 * *p;
        *m = BETA1 * *m + (1.0 - BETA1) * g;
        *v = BETA2 * *v + (1.0 - BETA2) * g * g;
        let denom = v.sqrt() * c.inv_sqrt_bc2 + EPSILON;
        *p = decay * *p - c.step_size * *m / denom;
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm`; returns the norm before.
pub(crate) fn clip_global_norm(grads: &mut Parameters, max_norm: f64) -> f64 {
    let norm = grads
        .tensors()
        .flat_map(|(_, g)| g.iter())
        .map(|g| f64::from(*g) * f64::from(*g))
        .sum::<f64>()
        .sqrt();
    if norm > max_norm {
        let scale = (max_norm / norm) as f32;
        for (_, g) in grads.tensors_mut() {
            g.iter_mut().for_each(|g| *g *= scale);
        }
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::LayerParameters;

    fn close(a: &[f32], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((f64::from(*x) - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    /// A 1×1 layer: one weight and one bias, given as `[weight, bias]`.
    fn layer(values: [f32; 2]) -> Parameters {
        let mut p = Parameters {
            hidden: Vec::new(),
            output: LayerParameters::zeros(1, 1, false),
        };
        for ((_, t), v) in p.tensors_mut().zip(values) {
            t[0] = v;
        }
        p
    }

    fn values(p: &Parameters) -> Vec<f32> {
        p.tensors().flat_map(|(_, t)| t.to_vec()).collect()
    }

    /// One weight and one bias; L2 must touch only the weight.
    fn run(kind: Optimizer, l2: f64, steps: &[[f32; 2]]) -> Vec<f32> {
        let mut p = layer([1.0, 1.0]);
        let mut opt = OptimizerState::new(kind, 0.9, l2, &p);
        for g in steps {
            opt.step(&mut p, &layer(*g), 0.1);
        }
        values(&p)
    }

    #[test]
    fn sgd_and_momentum_match_hand_computation() {
        // SGD, l2 0.5: w = 1 − 0.1·(0.2 + 0.5·1) = 0.93; b = 1 − 0.1·0.2 = 0.98.
        close(&run(Optimizer::Sgd, 0.5, &[[0.2, 0.2]]), &[0.93, 0.98]);
        // Momentum 0.9, no L2: m1 = 0.2, p = 0.98; m2 = 0.9·0.2 + 0.4 = 0.58, p = 0.98 − 0.058.
        close(
            &run(Optimizer::Momentum, 0.0, &[[0.2, 0.2], [0.4, 0.4]]),
            &[0.922, 0.922],
        );
    }

    #[test]
    fn adam_and_adamw_match_hand_computation() {
        // Step 1: m̂ = g, v̂ = g², so the step is lr·g/(|g| + ε) ≈ 0.1 for any g ≠ 0.
        let eps_term = 0.1 * 0.2 / (0.2 + 1e-8);
        close(
            &run(Optimizer::Adam, 0.0, &[[0.2, 0.2]]),
            &[1.0 - eps_term, 1.0 - eps_term],
        );
        // Step 2 with g = 0.2 then 0.4: m = 0.9·0.02 + 0.04 = 0.058, m̂ = 0.058/0.19;
        // The reference is the textbook formula in f64.
        let (b1, b2) = (0.9f64, 0.999f64);
        let (mut m, mut v, mut p) = (0.0f64, 0.0f64, 1.0f64);
        for (t, g) in [(1, 0.2f64), (2, 0.4)] {
            m = b1 * m + (1.0 - b1) * g;
            v = b2 * v + (1.0 - b2) * g * g;
            let mhat = m / (1.0 - b1.powi(t));
            let vhat = v / (1.0 - b2.powi(t));
            p -= 0.1 * mhat / (vhat.sqrt() + 1e-8);
        }
        close(
            &run(Optimizer::Adam, 0.0, &[[0.2, 0.2], [0.4, 0.4]]),
            &[p, p],
        );
        // AdamW with decay 0.5: the weight shrinks by (1 − 0.1·0.5) before the Adam step; the
        // bias does not.
        close(
            &run(Optimizer::AdamW, 0.5, &[[0.2, 0.2]]),
            &[0.95 - eps_term, 1.0 - eps_term],
        );
        // Adam with L2 0.5: the weight's gradient is 0.2 + 0.5 = 0.7, still a step of ≈ lr.
        let w = 1.0 - 0.1 * 0.7 / (0.7 + 1e-8);
        close(
            &run(Optimizer::Adam, 0.5, &[[0.2, 0.2]]),
            &[w, 1.0 - eps_term],
        );
    }

    #[test]
    fn clipping_rescales_to_the_norm() {
        let mut g = layer([3.0, 4.0]);
        assert_eq!(clip_global_norm(&mut g, 1.0), 5.0);
        close(&values(&g), &[0.6, 0.8]);
        let mut g = layer([0.3, 0.4]);
        clip_global_norm(&mut g, 1.0);
        close(&values(&g), &[0.3, 0.4]);
    }
}
