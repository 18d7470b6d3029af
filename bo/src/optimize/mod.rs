//! Maximizing the acquisition function over the mixed unit cube, Optuna's way: score many
//! scrambled Sobol candidates in one batch, pick a handful of starts (the best candidate, the
//! incumbent, and a softmax roulette over the rest), then refine each by alternating
//! L-BFGS-B on the continuous columns with a search over each discrete column's values.

mod local;

pub(crate) use local::EXHAUSTIVE_LIMIT;

use rand::{Rng, RngExt};

use crate::acquisition::Acquisition;
use crate::column::Columns;
use crate::gp::Gp;
use crate::sobol::Sobol;

/// How the acquisition function is maximized.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSettings {
    /// Number of scrambled Sobol candidates scored first (Optuna: 2048); past 400
    /// conditioning points, proportionally fewer (at least a quarter).
    pub candidates: usize,
    /// Number of local searches (Optuna: 10).
    pub starts: usize,
    /// Maximum alternations between the continuous and the discrete moves.
    pub max_passes: usize,
    /// L-BFGS-B iterations per continuous move.
    pub max_iterations: usize,
    /// Projected-gradient tolerance of the continuous move, in length-scale units.
    pub pgtol: f64,
}

impl Default for SearchSettings {
    fn default() -> Self {
        Self {
            candidates: 2048,
            starts: 10,
            max_passes: 20,
            max_iterations: 200,
            pgtol: 1e-2,
        }
    }
}

/// The box the search is confined to: per-column bounds inside `[0, 1]` (a trust region
/// around the incumbent, or the whole cube). A grid column's bounds confine it to its values
/// within them; categorical columns are never confined.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Lower bound per column.
    pub lower: Vec<f64>,
    /// Upper bound per column.
    pub upper: Vec<f64>,
}

impl Region {
    /// The whole unit cube in `d` columns.
    pub fn cube(d: usize) -> Self {
        Self {
            lower: vec![0.0; d],
            upper: vec![1.0; d],
        }
    }
}

/// Candidates scored per batch (bounds the memory of the cross-kernel at large n).
const CHUNK: usize = 512;

/// Local optima and top candidates, best first, as `(point, value)`.
pub type Ranked = Vec<(Vec<f64>, f64)>;

/// Maximizes `acq` on `gp`. `incumbent` is the best observed point (a start of its own).
/// Returns the local-search results followed by the best Sobol candidates, sorted by
/// value, so that the caller can skip points it must not repeat.
pub fn maximize(
    gp: &Gp,
    acq: &Acquisition,
    columns: &Columns,
    incumbent: Option<&[f64]>,
    region: &Region,
    settings: &SearchSettings,
    rng: &mut (impl Rng + ?Sized),
) -> Ranked {
    let d = columns.len();
    // Past 400 conditioning points the candidate count shrinks in proportion (scoring costs
    // candidates × n² for the variance), keeping at least a quarter of it.
    let n = gp.len().max(1);
    let count = (settings.candidates * 400 / n.max(400))
        .max(settings.candidates / 4)
        .max(1);
    let sobol = Sobol::new(d, rng.random());
    let mut points = sobol.points(0, count, d);
    for row in points.chunks_mut(d) {
        for (j, u) in row.iter_mut().enumerate() {
            if !columns.is_categorical(j) {
                *u = region.lower[j] + *u * (region.upper[j] - region.lower[j]);
            }
        }
        columns.snap(row);
    }
    let mut values = Vec::with_capacity(count);
    for chunk in points.chunks(CHUNK * d) {
        values.extend(acq.evaluate(gp, chunk));
    }
    let starts = choose_starts(&points, &values, d, incumbent, settings.starts, rng);
    let mut results = local::refine(gp, acq, columns, starts, region, settings);
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    results.extend(
        order
            .into_iter()
            .take(64)
            .map(|i| (points[i * d..(i + 1) * d].to_vec(), values[i])),
    );
    results.sort_by(|a, b| b.1.total_cmp(&a.1));
    results
}

/// The best candidate, the incumbent, and up to `starts - 2` candidates drawn without
/// replacement with probability ∝ `exp(value - max)` (the best excluded).
fn choose_starts(
    points: &[f64],
    values: &[f64],
    d: usize,
    incumbent: Option<&[f64]>,
    starts: usize,
    rng: &mut (impl Rng + ?Sized),
) -> Vec<Vec<f64>> {
    let best = (0..values.len())
        .max_by(|&a, &b| values[a].total_cmp(&values[b]))
        .unwrap_or(0);
    let mut chosen = vec![points[best * d..(best + 1) * d].to_vec()];
    if let Some(x) = incumbent {
        chosen.push(x.to_vec());
    }
    let top = values[best];
    let mut weights: Vec<f64> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            if i == best || !v.is_finite() {
                0.0
            } else {
                (v - top).exp()
            }
        })
        .collect();
    while chosen.len() < starts {
        let total: f64 = weights.iter().sum();
        if total.is_nan() || total <= 0.0 {
            break;
        }
        let mut target = rng.random::<f64>() * total;
        let mut pick = None;
        for (i, w) in weights.iter().enumerate() {
            if *w > 0.0 {
                pick = Some(i);
                target -= w;
                if target <= 0.0 {
                    break;
                }
            }
        }
        let Some(i) = pick else { break };
        weights[i] = 0.0;
        chosen.push(points[i * d..(i + 1) * d].to_vec());
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::column::Column;
    use crate::kernel::{Inputs, KernelParams};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn finds_the_maximum_of_the_posterior_mean_region() {
        // A 1-D GP through points of (x - 0.63)²: log-EI below the incumbent peaks near 0.63.
        let xs: Vec<f64> = vec![0.0, 0.2, 0.4, 0.55, 0.7, 0.9, 1.0];
        let y: Vec<f64> = xs
            .iter()
            .map(|x| (x - 0.63f64).powi(2) * 10.0 - 0.5)
            .collect();
        let gp = Gp::new(
            Inputs::new(xs, vec![false]),
            y,
            KernelParams {
                inverse_squared_lengthscales: vec![10.0],
                signal: 1.0,
                noise: 1e-6,
            },
        )
        .expect("factors");
        let columns = Columns::new(vec![Column::Continuous]).expect("valid");
        let acq = Acquisition::LogEi {
            best: (0.7f64 - 0.63).powi(2) * 10.0 - 0.5,
        };
        let ranked = maximize(
            &gp,
            &acq,
            &columns,
            Some(&[0.7]),
            &Region::cube(1),
            &SearchSettings::default(),
            &mut ChaCha8Rng::seed_from_u64(3),
        );
        let (x, v) = &ranked[0];
        assert!((x[0] - 0.63).abs() < 0.05, "argmax {x:?}");
        // No other returned point is better than the first.
        assert!(ranked.iter().all(|(_, w)| w <= v));
    }

    #[test]
    fn discrete_columns_end_on_their_values() {
        let rows = vec![0.125, 0.1, 0.375, 0.5, 0.625, 0.9, 0.875, 0.3];
        let gp = Gp::new(
            Inputs::new(rows, vec![true, false]),
            vec![1.0, -1.0, 0.5, 0.0],
            KernelParams {
                inverse_squared_lengthscales: vec![1.0, 4.0],
                signal: 1.0,
                noise: 1e-6,
            },
        )
        .expect("factors");
        let columns = Columns::new(vec![
            Column::Categorical(4),
            Column::Grid(vec![0.1, 0.3, 0.5, 0.7, 0.9]),
        ])
        .expect("valid");
        let acq = Acquisition::LogEi { best: -1.0 };
        let ranked = maximize(
            &gp,
            &acq,
            &columns,
            None,
            &Region::cube(2),
            &SearchSettings::default(),
            &mut ChaCha8Rng::seed_from_u64(9),
        );
        for (x, _) in ranked {
            assert!([0.125, 0.375, 0.625, 0.875].contains(&x[0]), "{x:?}");
            assert!([0.1, 0.3, 0.5, 0.7, 0.9].contains(&x[1]), "{x:?}");
        }
    }

    #[test]
    fn a_grid_column_stays_within_its_bounds() {
        let grid: Vec<f64> = (0..100).map(|k| (k as f64 + 0.5) / 100.0).collect();
        let columns = Columns::new(vec![Column::Continuous, Column::Grid(grid)]).expect("valid");
        // The posterior mean falls towards the grid column's top: unconfined, the search
        // goes there.
        let rows = vec![0.5, 0.1, 0.5, 0.5, 0.5, 0.9, 0.2, 0.3, 0.8, 0.7];
        let y: Vec<f64> = rows.chunks(2).map(|r| -r[1]).collect();
        let gp = Gp::new(
            Inputs::new(rows, vec![false, false]),
            y,
            KernelParams {
                inverse_squared_lengthscales: vec![4.0, 4.0],
                signal: 1.0,
                noise: 1e-6,
            },
        )
        .expect("factors");
        let acq = Acquisition::LogEi { best: -0.9 };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let region = Region {
            lower: vec![0.0, 0.4],
            upper: vec![1.0, 0.6],
        };
        let settings = SearchSettings::default();
        let ranked = maximize(&gp, &acq, &columns, None, &region, &settings, &mut rng);
        assert!(!ranked.is_empty());
        // Up to the grid value nearest each bound.
        let (lo, hi) = (columns.get(1).snap(0.4), columns.get(1).snap(0.6));
        for (x, _) in &ranked {
            assert!((lo..=hi).contains(&x[1]), "{x:?}");
        }
        let free = maximize(
            &gp,
            &acq,
            &columns,
            None,
            &Region::cube(2),
            &settings,
            &mut rng,
        );
        assert!(free[0].0[1] > 0.6, "{:?}", free[0]);
    }
}
