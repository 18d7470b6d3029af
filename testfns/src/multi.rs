//! Test functions with several objectives (two or three), all minimized: the trial reports
//! one metric per objective (`f1`, `f2`, …), to run and benchmark multi-objective searches
//! against a known Pareto front.

use std::f64::consts::PI;

use crate::{Dimension, Error, natural_cmp};

/// A built-in function with several objectives.
#[derive(Debug, Clone, Copy)]
pub struct MultiObjectiveFunction {
    /// Its name in `[objective] function = "..."`.
    pub name: &'static str,
    /// Accepted dimensions.
    pub dimension: Dimension,
    /// The metrics it reports, one per objective, all minimized.
    pub metrics: &'static [&'static str],
    eval: fn(&[f64]) -> Vec<f64>,
}

impl MultiObjectiveFunction {
    /// The usual search domain in dimension `d`: the unit cube.
    pub fn bounds(&self, d: usize) -> Vec<(f64, f64)> {
        vec![(0.0, 1.0); d]
    }

    /// The objectives at `x` (checked: dimension and finiteness), in the order of
    /// [`metrics`](Self::metrics).
    pub fn evaluate(&self, x: &[f64]) -> Result<Vec<f64>, Error> {
        self.dimension.check(self.name, x)?;
        Ok((self.eval)(x))
    }
}

/// Every built-in function with several objectives.
pub const MULTI_OBJECTIVE_FUNCTIONS: &[MultiObjectiveFunction] = &[
    MultiObjectiveFunction {
        name: "branin_currin",
        dimension: Dimension::Fixed(2),
        metrics: &["f1", "f2"],
        eval: branin_currin,
    },
    MultiObjectiveFunction {
        name: "dtlz2",
        dimension: Dimension::AtLeast(2),
        metrics: &["f1", "f2"],
        eval: dtlz2,
    },
    MultiObjectiveFunction {
        name: "dtlz2_3",
        dimension: Dimension::AtLeast(3),
        metrics: &["f1", "f2", "f3"],
        eval: dtlz2_3,
    },
];

/// The multi-objective function called `name`, if there is one.
pub fn find_multi(name: &str) -> Option<&'static MultiObjectiveFunction> {
    MULTI_OBJECTIVE_FUNCTIONS.iter().find(|f| f.name == name)
}

/// The inputs ordered by name in natural order, as one vector.
pub(crate) fn ordered(inputs: &[(&str, f64)]) -> Result<Vec<f64>, Error> {
    let mut sorted: Vec<(&str, f64)> = inputs.to_vec();
    sorted.sort_by(|a, b| natural_cmp(a.0, b.0));
    if let Some((n, v)) = sorted.iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NotFinite {
            input: n.to_string(),
            value: *v,
        });
    }
    Ok(sorted.iter().map(|&(_, v)| v).collect())
}

/// Branin (rescaled from [0, 1]² to [-5, 10] × [0, 15]) and Currin on [0, 1]², both
/// minimized (Belakaria et al. 2019; BoTorch's `BraninCurrin`).
fn branin_currin(x: &[f64]) -> Vec<f64> {
    let (x1, x2) = (x[0], x[1]);
    let branin = crate::functions::branin(&[15.0 * x1 - 5.0, 15.0 * x2]);
    // At x2 = 0 the exponent is -inf and the factor is 1: no special case needed.
    let factor = 1.0 - (-1.0 / (2.0 * x2)).exp();
    let currin = factor * (2300.0 * x1.powi(3) + 1900.0 * x1 * x1 + 2092.0 * x1 + 60.0)
        / (100.0 * x1.powi(3) + 500.0 * x1 * x1 + 4.0 * x1 + 20.0);
    vec![branin, currin]
}

/// DTLZ2 with two objectives on [0, 1]^d (Deb et al. 2005): its Pareto front is the
/// quarter circle f1² + f2² = 1, reached when every input but the first is 0.5.
fn dtlz2(x: &[f64]) -> Vec<f64> {
    let g: f64 = x[1..].iter().map(|v| (v - 0.5).powi(2)).sum();
    let angle = x[0] * PI / 2.0;
    vec![(1.0 + g) * angle.cos(), (1.0 + g) * angle.sin()]
}

/// DTLZ2 with three objectives on [0, 1]^d, d ≥ 3 (Deb et al. 2005): its Pareto front is
/// the positive octant of the unit sphere f1² + f2² + f3² = 1, reached when every input
/// but the first two is 0.5.
fn dtlz2_3(x: &[f64]) -> Vec<f64> {
    let g: f64 = x[2..].iter().map(|v| (v - 0.5).powi(2)).sum();
    let (a1, a2) = (x[0] * PI / 2.0, x[1] * PI / 2.0);
    vec![
        (1.0 + g) * a1.cos() * a2.cos(),
        (1.0 + g) * a1.cos() * a2.sin(),
        (1.0 + g) * a1.sin(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branin_currin_matches_known_values() {
        let f = find_multi("branin_currin").unwrap();
        // Branin's minimizer (π, 2.275) rescaled to the unit square.
        let x = [(PI + 5.0) / 15.0, 2.275 / 15.0];
        let v = f.evaluate(&x).unwrap();
        assert!((v[0] - 0.397_887).abs() < 1e-5, "{v:?}");
        // Currin at x2 = 0 is its rational factor alone: 60 / 20 at x1 = 0.
        let v = f.evaluate(&[0.0, 0.0]).unwrap();
        assert!((v[1] - 3.0).abs() < 1e-12, "{v:?}");
    }

    #[test]
    fn dtlz2_reaches_its_front_when_the_tail_is_one_half() {
        let f = find_multi("dtlz2").unwrap();
        for x0 in [0.0, 0.3, 1.0] {
            let v = f.evaluate(&[x0, 0.5, 0.5, 0.5, 0.5, 0.5]).unwrap();
            assert!((v[0].hypot(v[1]) - 1.0).abs() < 1e-12, "{v:?}");
        }
        let off = f.evaluate(&[0.3, 0.0, 0.5]).unwrap();
        assert!(off[0].hypot(off[1]) > 1.2);
    }

    #[test]
    fn dtlz2_3_reaches_its_front_when_the_tail_is_one_half() {
        let f = find_multi("dtlz2_3").unwrap();
        assert_eq!(f.metrics, ["f1", "f2", "f3"]);
        for (x1, x2) in [(0.0, 0.0), (0.3, 0.8), (1.0, 0.5), (0.5, 1.0)] {
            let v = f.evaluate(&[x1, x2, 0.5, 0.5, 0.5, 0.5]).unwrap();
            assert_eq!(v.len(), 3);
            let norm = v.iter().map(|f| f * f).sum::<f64>();
            assert!((norm - 1.0).abs() < 1e-12, "{v:?}");
        }
        // x = (1/2, 1/2, 0, 1): g = 1/4 + 1/4, both angles π/4, so
        // f = 1.5 · (1/2, 1/2, √2/2).
        let v = f.evaluate(&[0.5, 0.5, 0.0, 1.0]).unwrap();
        let expected = [0.75, 0.75, 0.75 * std::f64::consts::SQRT_2];
        for (a, b) in v.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{v:?}");
        }
        // Off the front once a tail input leaves 0.5.
        let off = f.evaluate(&[0.3, 0.6, 0.0]).unwrap();
        assert!(off.iter().map(|f| f * f).sum::<f64>().sqrt() > 1.2);
        assert!(matches!(
            f.evaluate(&[0.1, 0.2]),
            Err(Error::WrongDimension { .. })
        ));
    }

    #[test]
    fn a_wrong_dimension_is_refused() {
        let f = find_multi("branin_currin").unwrap();
        assert!(matches!(
            f.evaluate(&[0.1]),
            Err(Error::WrongDimension { .. })
        ));
    }
}
