//! The probability that a point satisfies every constraint (Gardner et al. 2014; Gelbart et
//! al. 2014): one GP per constraint margin (≤ 0 when satisfied), fitted on the same
//! unit-cube inputs as the objective, and the product over the constraints of
//! `Φ((t − μ_c)/σ_c)`, where `t` is the margin 0 on the GP's standardized scale. It is
//! used in log space, added to a log acquisition ([`crate::acquisition::Acquisition`]).

use rand::Rng;

use crate::acquisition::Acquisition;
use crate::gp::{FitSettings, Gp, Standardized};
use crate::kernel::Inputs;

/// The GP of one constraint's margin, and where the margin 0 lies on its scale.
#[derive(Debug, Clone)]
pub struct ConstraintModel {
    gp: Gp,
    /// The margin 0 on the GP's standardized scale.
    threshold: f64,
}

/// A constraint model fitted by [`ConstraintModel::fit`], with the raw hyperparameters to
/// warm-start the next fit from.
#[derive(Debug, Clone)]
pub struct FittedConstraint {
    /// The model.
    pub model: ConstraintModel,
    /// The raw hyperparameters of its fit (see [`crate::gp::fit`](mod@crate::gp::fit)).
    pub raw: Vec<f64>,
}

impl ConstraintModel {
    /// Fits a GP to `margins` (one per row of `inputs`, all finite) after standardizing them
    /// (no power warp: the sign of a margin is what matters). `warm` is the previous fit's
    /// raw hyperparameters: the start of the optimization, or, with `reuse`, the
    /// hyperparameters themselves (no optimization). `None` when the fit or the
    /// factorization fails.
    pub fn fit(
        inputs: Inputs,
        margins: &[f64],
        warm: Option<&[f64]>,
        reuse: bool,
        settings: &FitSettings,
        rng: &mut (impl Rng + ?Sized),
    ) -> Option<FittedConstraint> {
        let fitted = Standardized::fit(inputs, margins, warm, reuse, settings, rng)?;
        Some(FittedConstraint {
            model: ConstraintModel {
                gp: fitted.gp,
                threshold: fitted.transform.forward(0.0),
            },
            raw: fitted.raw,
        })
    }

    /// The model of a GP already conditioned on standardized margins, whose margin 0 is
    /// `threshold` on that scale.
    pub fn new(gp: Gp, threshold: f64) -> Self {
        Self { gp, threshold }
    }

    /// `log Φ((t − μ)/σ)`: the log probability that the margin is at most 0.
    fn acquisition(&self) -> Acquisition {
        Acquisition::LogPi {
            best: self.threshold,
        }
    }
}

/// The probability of feasibility under every constraint model.
#[derive(Debug, Clone)]
pub struct Feasibility {
    constraints: Vec<ConstraintModel>,
}

impl Feasibility {
    /// The product over `constraints` (all of them must hold).
    pub fn new(constraints: Vec<ConstraintModel>) -> Self {
        Self { constraints }
    }

    /// Number of constraint models.
    pub fn len(&self) -> usize {
        self.constraints.len()
    }

    /// Whether there is no constraint model (the probability is then 1).
    pub fn is_empty(&self) -> bool {
        self.constraints.is_empty()
    }

    /// `Σ_c log Φ((t_c − μ_c)/σ_c)` at each of a batch of row-major points.
    pub fn log_probability(&self, points: &[f64]) -> Vec<f64> {
        let mut total = Vec::new();
        for c in &self.constraints {
            let values = c.acquisition().evaluate(&c.gp, points);
            add_into(&mut total, &values);
        }
        total
    }

    /// [`Feasibility::log_probability`] with its gradient **added** into `grad` (row-major,
    /// like the points); `scratch` is resized as needed and holds one constraint's gradient.
    pub fn log_probability_with_gradient(
        &self,
        points: &[f64],
        grad: &mut [f64],
        scratch: &mut Vec<f64>,
    ) -> Vec<f64> {
        let mut total = Vec::new();
        scratch.resize(points.len(), 0.0);
        for c in &self.constraints {
            let values = c
                .acquisition()
                .evaluate_with_gradient(&c.gp, points, scratch);
            add_into(&mut total, &values);
            grad.iter_mut()
                .zip(scratch.iter())
                .for_each(|(g, s)| *g += s);
        }
        total
    }
}

/// `total += values` element-wise, `total` taking `values` when empty.
fn add_into(total: &mut Vec<f64>, values: &[f64]) {
    if total.is_empty() {
        total.extend_from_slice(values);
    } else {
        total.iter_mut().zip(values).for_each(|(t, v)| *t += v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// A constraint model of `x ≤ 0.5` on a 1-D grid of observations.
    fn half_line() -> ConstraintModel {
        let xs: Vec<f64> = (0..11).map(|i| i as f64 / 10.0).collect();
        let margins: Vec<f64> = xs.iter().map(|x| x - 0.5).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        ConstraintModel::fit(
            Inputs::new(xs, vec![false]),
            &margins,
            None,
            false,
            &FitSettings::default(),
            &mut rng,
        )
        .expect("fits")
        .model
    }

    #[test]
    fn the_probability_is_high_inside_low_outside_and_a_half_at_the_boundary() {
        let f = Feasibility::new(vec![half_line()]);
        let p: Vec<f64> = f
            .log_probability(&[0.1, 0.5, 0.9])
            .iter()
            .map(|l| l.exp())
            .collect();
        assert!(p[0] > 0.99, "{p:?}");
        assert!((p[1] - 0.5).abs() < 0.1, "{p:?}");
        assert!(p[2] < 0.01, "{p:?}");
    }

    #[test]
    fn two_constraints_multiply_and_the_gradient_matches_finite_differences() {
        let gp = Gp::new(
            Inputs::new(vec![0.1, 0.3, 0.7, 0.9], vec![false]),
            vec![-1.2, -0.4, 0.6, 1.0],
            crate::kernel::KernelParams {
                inverse_squared_lengthscales: vec![8.0],
                signal: 1.0,
                noise: 1e-4,
            },
        )
        .expect("factors");
        let c = ConstraintModel::new(gp, 0.1);
        let one = Feasibility::new(vec![c.clone()]);
        let two = Feasibility::new(vec![c.clone(), c]);
        let x = [0.45, 0.53];
        let (l1, l2) = (one.log_probability(&x), two.log_probability(&x));
        for k in 0..2 {
            assert!((l2[k] - 2.0 * l1[k]).abs() < 1e-12);
        }
        let mut grad = vec![0.0; 2];
        two.log_probability_with_gradient(&x, &mut grad, &mut Vec::new());
        for k in 0..2 {
            let e = 1e-6;
            let (mut up, mut down) = (x, x);
            up[k] += e;
            down[k] -= e;
            let fd = (two.log_probability(&up)[k] - two.log_probability(&down)[k]) / (2.0 * e);
            assert!(
                (grad[k] - fd).abs() < 1e-4 * (1.0 + fd.abs()),
                "{k}: {} vs {fd}",
                grad[k]
            );
        }
    }
}
