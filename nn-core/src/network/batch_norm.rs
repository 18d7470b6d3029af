//! Batch normalization over the rows of a mini-batch, per feature (column).

use crate::linalg::vectorized;

/// Added to the variance before the square root.
pub(crate) const EPS: f32 = 1e-5;
/// Weight of the newest batch in the running statistics.
const RUNNING_MOMENTUM: f32 = 0.1;

/// Training mode: normalizes `z` (rows × width) in place into `pre = gamma·x̂ + beta`, keeping
/// `xhat` and the per-feature `inv_std` for the backward pass and updating the running mean
/// and (unbiased) variance. `mean` is scratch space of `width` values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_train(
    z: &mut [f32],
    xhat: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &mut [f32],
    inv_std: &mut [f32],
    running_mean: &mut [f32],
    running_var: &mut [f32],
    width: usize,
) {
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
pub(crate) fn forward_eval(
    z: &mut [f32],
    gamma: &[f32],
    beta: &[f32],
    running_mean: &[f32],
    running_var: &[f32],
    scratch: &mut [f32],
    width: usize,
) {
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

/// Backward pass: `grad` holds dL/d(pre) on entry and dL/dz on exit; `gamma_grad` and
/// `beta_grad` receive their gradients (overwritten).
pub(crate) fn backward(
    grad: &mut [f32],
    xhat: &[f32],
    gamma: &[f32],
    inv_std: &[f32],
    gamma_grad: &mut [f32],
    beta_grad: &mut [f32],
    width: usize,
) {
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
