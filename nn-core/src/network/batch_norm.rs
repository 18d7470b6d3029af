//! Batch normalization over the rows of a mini-batch, per feature (column).

use ndarray::{Array1, ArrayView2, ArrayViewMut2};

use super::{RunningStats, ScaleShift};
use crate::linalg::{flat, flat_mut, vectorized};

/// Added to the variance before the square root.
pub(crate) const EPS: f32 = 1e-5;
/// Weight of the newest batch in the running statistics.
const RUNNING_MOMENTUM: f32 = 0.1;

/// Training mode: normalizes `z` (rows × width) in place into `pre = gamma·x̂ + beta`, keeping
/// `xhat` and the per-feature `inv_std` for the backward pass and updating the running mean
/// and (unbiased) variance. `mean` is scratch space of `width` values.
pub(crate) fn forward_train(
    z: ArrayViewMut2<'_, f32>,
    xhat: ArrayViewMut2<'_, f32>,
    params: &ScaleShift,
    mean: &mut Array1<f32>,
    inv_std: &mut Array1<f32>,
    running: &mut RunningStats,
) {
    assert_eq!(z.dim(), xhat.dim(), "batch norm: x̂ has another shape");
    let width = z.ncols();
    let (z, xhat) = (flat_mut(z), flat_mut(xhat));
    let (gamma, beta) = (flat(params.gamma.view()), flat(params.beta.view()));
    let (mean, inv_std) = (flat_mut(mean.view_mut()), flat_mut(inv_std.view_mut()));
    let running_mean = flat_mut(running.mean.view_mut());
    let running_var = flat_mut(running.var.view_mut());
    vectorized(
        #[inline(always)]
        || {
            let rows = z.len() / width;
            let n = rows as f32;
            mean.fill(0.0);
            for row in z.chunks_exact(width) {
                for (m, v) in mean.iter_mut().zip(row) {
                    *m += v;
                }
            }
            mean.iter_mut().for_each(|m| *m /= n);
            // Variance pass, accumulated in inv_std before it is turned into 1/std.
            inv_std.fill(0.0);
            for row in z.chunks_exact(width) {
                for ((s, m), v) in inv_std.iter_mut().zip(mean.iter()).zip(row) {
                    let d = v - m;
                    *s += d * d;
                }
            }
            let unbiased = if rows > 1 { n / (n - 1.0) } else { 1.0 };
            for (((s, m), rm), rv) in inv_std
                .iter_mut()
                .zip(mean.iter())
                .zip(running_mean.iter_mut())
                .zip(running_var.iter_mut())
            {
                let var = *s / n;
                *rm += RUNNING_MOMENTUM * (m - *rm);
                *rv += RUNNING_MOMENTUM * (var * unbiased - *rv);
                *s = 1.0 / (var + EPS).sqrt();
            }
            for (zr, xr) in z.chunks_exact_mut(width).zip(xhat.chunks_exact_mut(width)) {
                for (((((z, x), m), s), g), b) in zr
                    .iter_mut()
                    .zip(xr.iter_mut())
                    .zip(mean.iter())
                    .zip(inv_std.iter())
                    .zip(gamma)
                    .zip(beta)
                {
                    *x = (*z - m) * s;
                    *z = g * *x + b;
                }
            }
        },
    )
}

/// Inference mode: `z = gamma · (z − running_mean) / √(running_var + ε) + beta`, in place.
/// `scratch` holds `width` values.
pub(crate) fn forward_eval(
    z: ArrayViewMut2<'_, f32>,
    params: &ScaleShift,
    running: &RunningStats,
    scratch: &mut Array1<f32>,
) {
    let width = z.ncols();
    let z = flat_mut(z);
    let (gamma, beta) = (flat(params.gamma.view()), flat(params.beta.view()));
    let (running_mean, running_var) = (flat(running.mean.view()), flat(running.var.view()));
    let scratch = flat_mut(scratch.view_mut());
    vectorized(
        #[inline(always)]
        || {
            // scratch = gamma / std, so each element costs one multiply-add.
            for ((s, g), v) in scratch.iter_mut().zip(gamma).zip(running_var) {
                *s = g / (v + EPS).sqrt();
            }
            for zr in z.chunks_exact_mut(width) {
                for (((z, s), m), b) in zr
                    .iter_mut()
                    .zip(scratch.iter())
                    .zip(running_mean)
                    .zip(beta)
                {
                    *z = (*z - m) * s + b;
                }
            }
        },
    )
}

/// Backward pass: `grad` holds dL/d(pre) on entry and dL/dz on exit; `param_grads` receives
/// the gradients of gamma and beta (overwritten).
pub(crate) fn backward(
    grad: ArrayViewMut2<'_, f32>,
    xhat: ArrayView2<'_, f32>,
    params: &ScaleShift,
    inv_std: &Array1<f32>,
    param_grads: &mut ScaleShift,
) {
    assert_eq!(grad.dim(), xhat.dim(), "batch norm: x̂ has another shape");
    let width = grad.ncols();
    let (grad, xhat) = (flat_mut(grad), flat(xhat));
    let (gamma, inv_std) = (flat(params.gamma.view()), flat(inv_std.view()));
    let ScaleShift {
        gamma: gamma_grad,
        beta: beta_grad,
    } = param_grads;
    let (gamma_grad, beta_grad) = (
        flat_mut(gamma_grad.view_mut()),
        flat_mut(beta_grad.view_mut()),
    );
    vectorized(
        #[inline(always)]
        || {
            let n = (grad.len() / width) as f32;
            gamma_grad.fill(0.0);
            beta_grad.fill(0.0);
            for (gr, xr) in grad.chunks_exact(width).zip(xhat.chunks_exact(width)) {
                for (((dg, db), g), x) in gamma_grad
                    .iter_mut()
                    .zip(beta_grad.iter_mut())
                    .zip(gr)
                    .zip(xr)
                {
                    *dg += g * x;
                    *db += g;
                }
            }
            // dz = gamma·inv_std/n · (n·dy − Σdy − x̂·Σ(dy·x̂))
            for (gr, xr) in grad.chunks_exact_mut(width).zip(xhat.chunks_exact(width)) {
                for (((((g, x), gm), s), dg), db) in gr
                    .iter_mut()
                    .zip(xr)
                    .zip(gamma)
                    .zip(inv_std)
                    .zip(gamma_grad.iter())
                    .zip(beta_grad.iter())
                {
                    *g = gm * s / n * (n * *g - db - x * dg);
                }
            }
        },
    )
}
