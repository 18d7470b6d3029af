//! Local refinement of acquisition starts: L-BFGS-B on the continuous columns, run for all
//! starts in lockstep with one batched evaluation per step, in coordinates scaled by the
//! length scales (`z = x/ℓ`, which makes the problem roughly isotropic), alternating with a
//! search over each discrete column's values, until a pass changes nothing.

use crate::acquisition::Acquisition;
use crate::column::{Column, Columns};
use crate::gp::Gp;
use crate::lbfgsb::{Lbfgsb, Settings};

use super::{Ranked, Region, SearchSettings};

/// Grid columns with at most this many values are searched exhaustively (and left out of
/// the trust region, like categorical columns).
pub(crate) const EXHAUSTIVE_LIMIT: usize = 16;

/// Refines every start; returns the end points with their values.
pub fn refine(
    gp: &Gp,
    acq: &Acquisition,
    columns: &Columns,
    starts: Vec<Vec<f64>>,
    region: &Region,
    settings: &SearchSettings,
) -> Ranked {
    let mut xs: Vec<Vec<f64>> = starts
        .into_iter()
        .map(|mut x| {
            columns.snap(&mut x);
            x
        })
        .collect();
    let mut values: Vec<f64> = xs.iter().map(|x| acq.evaluate(gp, x)[0]).collect();
    let mut active = vec![true; xs.len()];
    for _ in 0..settings.max_passes.max(1) {
        if !columns.continuous().is_empty() {
            let starts = Starts {
                xs: &mut xs,
                values: &mut values,
                active: &active,
            };
            continuous_move(gp, acq, columns, starts, region, settings);
        }
        if columns.discrete().is_empty() {
            break;
        }
        for (i, x) in xs.iter_mut().enumerate() {
            active[i] = active[i] && discrete_move(gp, acq, columns, x, &mut values[i], region);
        }
        if !active.iter().any(|&a| a) {
            break;
        }
    }
    xs.into_iter().zip(values).collect()
}

/// L-BFGS-B over the continuous columns of every active start, in lockstep.
/// The local searches' current points and values, and which of them still move.
struct Starts<'a> {
    xs: &'a mut [Vec<f64>],
    values: &'a mut [f64],
    active: &'a [bool],
}

fn continuous_move(
    gp: &Gp,
    acq: &Acquisition,
    columns: &Columns,
    starts: Starts<'_>,
    region: &Region,
    settings: &SearchSettings,
) {
    let Starts { xs, values, active } = starts;
    let cont = columns.continuous();
    let d = columns.len();
    let scale: Vec<f64> = cont
        .iter()
        .map(|&j| gp.params().inverse_squared_lengthscales[j].sqrt())
        .collect();
    let lower: Vec<f64> = cont
        .iter()
        .zip(&scale)
        .map(|(&j, s)| region.lower[j] * s)
        .collect();
    let upper: Vec<f64> = cont
        .iter()
        .zip(&scale)
        .map(|(&j, s)| region.upper[j] * s)
        .collect();
    let lbfgs = Settings {
        max_iterations: settings.max_iterations,
        pgtol: settings.pgtol,
        ..Settings::default()
    };
    let mut runs: Vec<(usize, Lbfgsb)> = (0..xs.len())
        .filter(|&i| active[i])
        .map(|i| {
            let z0: Vec<f64> = cont
                .iter()
                .zip(&scale)
                .map(|(&j, s)| xs[i][j] * s)
                .collect();
            (
                i,
                Lbfgsb::new(&z0, lower.clone(), upper.clone(), lbfgs.clone()),
            )
        })
        .collect();
    let mut batch = Vec::new();
    let mut grad = Vec::new();
    let mut owners = Vec::new();
    loop {
        batch.clear();
        owners.clear();
        for (k, (i, run)) in runs.iter().enumerate() {
            if let Some(z) = run.point() {
                let mut x = xs[*i].clone();
                for ((&j, s), zj) in cont.iter().zip(&scale).zip(z) {
                    x[j] = (zj / s).clamp(0.0, 1.0);
                }
                batch.extend_from_slice(&x);
                owners.push(k);
            }
        }
        if owners.is_empty() {
            break;
        }
        grad.resize(batch.len(), 0.0);
        let vals = acq.evaluate_with_gradient(gp, &batch, &mut grad);
        for (b, &k) in owners.iter().enumerate() {
            let g: Vec<f64> = cont
                .iter()
                .zip(&scale)
                .map(|(&j, s)| -grad[b * d + j] / s)
                .collect();
            runs[k].1.tell(-vals[b], &g);
        }
    }
    for (i, run) in runs {
        let (z, f) = run.best();
        if -f > values[i] {
            for ((&j, s), zj) in cont.iter().zip(&scale).zip(z) {
                xs[i][j] = (zj / s).clamp(0.0, 1.0);
            }
            values[i] = -f;
        }
    }
}

/// One pass over the discrete columns of `x`: each column moves to its best value given
/// the others. Returns whether anything changed.
fn discrete_move(
    gp: &Gp,
    acq: &Acquisition,
    columns: &Columns,
    x: &mut [f64],
    value: &mut f64,
    region: &Region,
) -> bool {
    let d = columns.len();
    let mut changed = false;
    for &j in columns.discrete() {
        let Some(options) = columns.values(j) else {
            continue;
        };
        let tried: Vec<f64> = match columns.get(j) {
            Column::Grid(g) if g.len() > EXHAUSTIVE_LIMIT => ladder(g, x[j]),
            _ => options,
        };
        let (lo, hi) = (
            columns.get(j).snap(region.lower[j]),
            columns.get(j).snap(region.upper[j]),
        );
        let tried: Vec<f64> = tried
            .into_iter()
            .filter(|v| (lo..=hi).contains(v))
            .collect();
        let mut batch = Vec::with_capacity(tried.len() * d);
        for &v in &tried {
            let mut p = x.to_vec();
            p[j] = v;
            batch.extend_from_slice(&p);
        }
        let vals = acq.evaluate(gp, &batch);
        if let Some((k, &best)) = vals.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))
            && best > *value + 1e-12 * value.abs().max(1.0)
            && tried[k] != x[j]
        {
            x[j] = tried[k];
            *value = best;
            changed = true;
        }
    }
    changed
}

/// Grid values at offsets ±1, ±2, ±4, … from the current one (a long grid's line search).
fn ladder(grid: &[f64], current: f64) -> Vec<f64> {
    let i = grid.partition_point(|&v| v < current).min(grid.len() - 1);
    let mut out = Vec::new();
    let mut step = 1usize;
    while step < grid.len() {
        if i + step < grid.len() {
            out.push(grid[i + step]);
        }
        if step <= i {
            out.push(grid[i - step]);
        }
        step *= 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_spans_the_grid_from_the_current_value() {
        let grid: Vec<f64> = (0..40).map(|i| i as f64 / 39.0).collect();
        let l = ladder(&grid, grid[10]);
        assert!(
            l.contains(&grid[11])
                && l.contains(&grid[9])
                && l.contains(&grid[26])
                && l.contains(&grid[2])
        );
        assert!(!l.contains(&grid[10]));
    }
}
