//! The int8 arithmetic: real values to int8 (QuantizeLinear's rounding) and the
//! `i8 × i8 → i32` matrix product.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::linalg::vectorized;

/// The int8 value of `x` at `scale`: `x / scale` rounded half to even, saturated to
/// [-128, 127], exactly as ONNX QuantizeLinear with a zero point of 0.
#[inline(always)]
pub(crate) fn quantize(x: f32, scale: f32) -> i8 {
    (x / scale).clamp(-128.0, 127.0).round_ties_even() as i8
}

/// `out[r, c] = Σₖ x[r, k] · w[c, k]` with exact i32 sums (|x|, |w| ≤ 128: the sums stay
/// exact for up to 131,000 inputs, far beyond the widest layer accepted).
///
/// # Panics
/// When the shapes do not chain or an operand is not contiguous row-major (bugs of the caller).
pub(crate) fn matmul_i8(
    mut out: ArrayViewMut2<'_, i32>,
    x: ArrayView2<'_, i8>,
    w: ArrayView2<'_, i8>,
) {
    let ((rows, k), (cols, k2)) = (x.dim(), w.dim());
    assert!(
        k == k2 && out.dim() == (rows, cols),
        "matmul_i8: {rows}×{k} · ({cols}×{k2})ᵀ into {:?}",
        out.dim()
    );
    let (Some(x), Some(w)) = (x.to_slice(), w.to_slice()) else {
        panic!("matmul_i8: operands must be contiguous row-major");
    };
    let Some(out) = out.as_slice_mut() else {
        panic!("matmul_i8: the output must be contiguous row-major");
    };
    if k == 0 || cols == 0 {
        out.fill(0);
        return;
    }
    vectorized(
        #[inline(always)]
        || {
            for (x_row, out_row) in x.chunks_exact(k).zip(out.chunks_exact_mut(cols)) {
                // Four output units per sweep: each input value loaded once for four products.
                let mut units = w.chunks_exact(4 * k);
                let mut c = 0;
                for four in &mut units {
                    let (w0, rest) = four.split_at(k);
                    let (w1, rest) = rest.split_at(k);
                    let (w2, w3) = rest.split_at(k);
                    let sums = dot4(x_row, [w0, w1, w2, w3]);
                    out_row[c..c + 4].copy_from_slice(&sums);
                    c += 4;
                }
                for w_row in units.remainder().chunks_exact(k) {
                    out_row[c] = dot(x_row, w_row);
                    c += 1;
                }
            }
        },
    )
}

/// One dot product, exact in i32.
#[inline(always)]
fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter()
        .zip(w)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum()
}

/// Inputs per block of [`dot4`]: fixed-size arrays, so the compiler drops the bounds checks
/// and vectorizes the block (sign-extend, multiply, add, eight i32 lanes per instruction).
const BLOCK: usize = 32;

/// Four dot products of `x` with four rows: each block of `x` is loaded once for four rows.
#[inline(always)]
fn dot4(x: &[i8], w: [&[i8]; 4]) -> [i32; 4] {
    let (xb, x_tail) = x.as_chunks::<BLOCK>();
    let split = xb.len() * BLOCK;
    let rows = w.map(|row| row.split_at(split));
    let [b0, b1, b2, b3] = rows.map(|(head, _)| head.as_chunks::<BLOCK>().0);
    let mut sums = [[0i32; BLOCK]; 4];
    let weights = b0.iter().zip(b1).zip(b2).zip(b3);
    for (xs, (((w0, w1), w2), w3)) in xb.iter().zip(weights) {
        for (sum, ws) in sums.iter_mut().zip([w0, w1, w2, w3]) {
            for i in 0..BLOCK {
                sum[i] += i32::from(xs[i]) * i32::from(ws[i]);
            }
        }
    }
    let mut out = [0i32; 4];
    for ((o, sum), (_, tail)) in out.iter_mut().zip(&sums).zip(&rows) {
        *o = sum.iter().sum::<i32>() + dot(x_tail, tail);
    }
    out
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn quantize_rounds_half_to_even_and_saturates() {
        assert_eq!(quantize(2.5, 1.0), 2);
        assert_eq!(quantize(3.5, 1.0), 4);
        assert_eq!(quantize(-2.5, 1.0), -2);
        assert_eq!(quantize(0.26, 0.1), 3);
        assert_eq!(quantize(1000.0, 1.0), 127);
        assert_eq!(quantize(-1000.0, 1.0), -128);
        assert_eq!(quantize(f32::NAN, 1.0), 0);
    }

    #[test]
    fn the_int8_product_equals_the_naive_sum_at_every_width() {
        for (rows, k, cols) in [(3, 1, 1), (5, 17, 9), (2, 64, 4), (4, 100, 13), (1, 33, 0)] {
            let x = Array2::from_shape_fn((rows, k), |(r, i)| ((r * 31 + i * 7) % 256) as u8 as i8);
            let w = Array2::from_shape_fn((cols, k), |(c, i)| {
                ((c * 13 + i * 11 + 5) % 255) as u8 as i8
            });
            let mut out = Array2::from_elem((rows, cols), 99);
            matmul_i8(out.view_mut(), x.view(), w.view());
            for r in 0..rows {
                for c in 0..cols {
                    let expected: i32 = (0..k)
                        .map(|i| i32::from(x[[r, i]]) * i32::from(w[[c, i]]))
                        .sum();
                    assert_eq!(out[[r, c]], expected, "{rows}×{k}×{cols} at ({r}, {c})");
                }
            }
        }
        // The extreme products: -128 · -128 sums beyond i16.
        let x = Array2::from_elem((1, 40), -128i8);
        let mut out = Array2::zeros((1, 5));
        matmul_i8(
            out.view_mut(),
            x.view(),
            Array2::from_elem((5, 40), -128i8).view(),
        );
        assert!(out.iter().all(|&v| v == 40 * 16_384));
    }
}
