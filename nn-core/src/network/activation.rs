//! Hidden-layer activations, applied row by row in fused passes: the forward pass adds the
//! bias and activates in one sweep; the backward pass applies the dropout mask and the
//! derivative and sums the bias gradient in one sweep.

use ndarray::{Array1, ArrayView1, ArrayView2, ArrayViewMut2};

use crate::config::Activation;
use crate::linalg::{flat, flat_mut, vectorized};

/// The slope of leaky ReLU for negative inputs.
const LEAKY_SLOPE: f32 = 0.01;

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The standard normal CDF Φ(x).
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The standard normal density φ(x).
#[inline(always)]
fn normal_pdf(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// The activation of one pre-activation value.
#[inline(always)]
pub(crate) fn value(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                LEAKY_SLOPE * x
            }
        }
        Activation::Elu => {
            if x > 0.0 {
                x
            } else {
                x.exp() - 1.0
            }
        }
        Activation::Sigmoid => sigmoid(x),
        Activation::Tanh => x.tanh(),
        Activation::Swish => x * sigmoid(x),
        Activation::Gelu => x * normal_cdf(x),
    }
}

/// The derivative of the activation at one pre-activation value.
#[inline(always)]
pub(crate) fn derivative(act: Activation, x: f32) -> f32 {
    match act {
        Activation::Relu => {
            if x > 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::LeakyRelu => {
            if x > 0.0 {
                1.0
            } else {
                LEAKY_SLOPE
            }
        }
        Activation::Elu => {
            if x > 0.0 {
                1.0
            } else {
                x.exp()
            }
        }
        Activation::Sigmoid => {
            let s = sigmoid(x);
            s * (1.0 - s)
        }
        Activation::Tanh => {
            let t = x.tanh();
            1.0 - t * t
        }
        Activation::Swish => {
            let s = sigmoid(x);
            s + x * s * (1.0 - s)
        }
        Activation::Gelu => normal_cdf(x) + x * normal_pdf(x),
    }
}

/// For each row: `pre += bias` (when given), then `out = act(pre)`.
pub(crate) fn forward(
    act: Activation,
    pre: ArrayViewMut2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    out: ArrayViewMut2<'_, f32>,
) {
    assert_eq!(
        pre.dim(),
        out.dim(),
        "activation: input and output shapes differ"
    );
    let width = pre.ncols();
    let (pre, out, bias) = (flat_mut(pre), flat_mut(out), bias.map(flat));
    vectorized(
        #[inline(always)]
        || {
            // One monomorphized loop per activation so the compiler can vectorize the cheap ones.
            match act {
                Activation::Relu => forward_with(pre, bias, out, width, |x| x.max(0.0)),
                Activation::LeakyRelu => {
                    forward_with(pre, bias, out, width, |x| value(Activation::LeakyRelu, x))
                }
                Activation::Elu => {
                    forward_with(pre, bias, out, width, |x| value(Activation::Elu, x))
                }
                Activation::Sigmoid => forward_with(pre, bias, out, width, sigmoid),
                Activation::Tanh => forward_with(pre, bias, out, width, f32::tanh),
                Activation::Swish => {
                    forward_with(pre, bias, out, width, |x| value(Activation::Swish, x))
                }
                Activation::Gelu => {
                    forward_with(pre, bias, out, width, |x| value(Activation::Gelu, x))
                }
            }
        },
    )
}

#[inline(always)]
fn forward_with(
    pre: &mut [f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    width: usize,
    f: impl Fn(f32) -> f32,
) {
    let rows = pre.chunks_exact_mut(width).zip(out.chunks_exact_mut(width));
    match bias {
        Some(bias) => {
            for (p, o) in rows {
                for ((p, o), b) in p.iter_mut().zip(o.iter_mut()).zip(bias) {
                    *p += b;
                    *o = f(*p);
                }
            }
        }
        None => {
            for (p, o) in rows {
                for (p, o) in p.iter().zip(o.iter_mut()) {
                    *o = f(*p);
                }
            }
        }
    }
}

/// For each row: `grad *= mask * act'(pre)` (mask when given); `bias_grad` (when given)
/// receives the sum of the resulting rows.
pub(crate) fn backward(
    act: Activation,
    pre: ArrayView2<'_, f32>,
    mask: Option<ArrayView2<'_, f32>>,
    grad: ArrayViewMut2<'_, f32>,
    bias_grad: Option<&mut Array1<f32>>,
) {
    assert_eq!(
        pre.dim(),
        grad.dim(),
        "activation: input and gradient shapes differ"
    );
    let width = pre.ncols();
    let (pre, grad, mask) = (flat(pre), flat_mut(grad), mask.map(flat));
    let bias_grad = bias_grad.map(|b| {
        b.fill(0.0);
        flat_mut(b.view_mut())
    });
    vectorized(
        #[inline(always)]
        || match act {
            Activation::Relu => backward_with(pre, mask, grad, bias_grad, width, |x| {
                if x > 0.0 { 1.0 } else { 0.0 }
            }),
            other => backward_with(pre, mask, grad, bias_grad, width, |x| derivative(other, x)),
        },
    )
}

#[inline(always)]
fn backward_with(
    pre: &[f32],
    mask: Option<&[f32]>,
    grad: &mut [f32],
    mut bias_grad: Option<&mut [f32]>,
    width: usize,
    d: impl Fn(f32) -> f32,
) {
    for (r, (p, g)) in pre
        .chunks_exact(width)
        .zip(grad.chunks_exact_mut(width))
        .enumerate()
    {
        match mask {
            Some(mask) => {
                let m = &mask[r * width..][..width];
                for ((g, p), m) in g.iter_mut().zip(p).zip(m) {
                    *g *= m * d(*p);
                }
            }
            None => {
                for (g, p) in g.iter_mut().zip(p) {
                    *g *= d(*p);
                }
            }
        }
        if let Some(db) = bias_grad.as_deref_mut() {
            for (db, g) in db.iter_mut().zip(g.iter()) {
                *db += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 7] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Swish,
        Activation::Gelu,
    ];

    #[test]
    fn derivatives_match_finite_differences() {
        for act in ALL {
            for &x in &[-2.3f32, -0.7, -0.1, 0.2, 0.9, 3.1] {
                let h = 1e-3f64;
                let f = |x: f64| f64::from(value(act, x as f32));
                let numeric = (f(f64::from(x) + h) - f(f64::from(x) - h)) / (2.0 * h);
                let analytic = f64::from(derivative(act, x));
                assert!(
                    (numeric - analytic).abs() < 2e-3,
                    "{act:?} at {x}: {numeric} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn known_values() {
        assert_eq!(value(Activation::Relu, -1.0), 0.0);
        assert_eq!(value(Activation::LeakyRelu, -1.0), -0.01);
        assert!((value(Activation::Elu, -1.0) - (-0.632_120_56)).abs() < 1e-6);
        assert!((value(Activation::Gelu, 1.0) - 0.841_344_7).abs() < 1e-5);
        assert!((value(Activation::Swish, 1.0) - 0.731_058_6).abs() < 1e-6);
    }
}
