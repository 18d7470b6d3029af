//! The int8 arithmetic: real values to int8 (QuantizeLinear's rounding) and the
//! `i8 × i8 → i32` matrix product.

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::config::Activation;
use crate::linalg::vectorized;
use crate::network::activation;

/// The int8 value of `x` at `scale`: `x / scale` rounded half to even, saturated to
/// [-128, 127], exactly as ONNX QuantizeLinear with a zero point of 0.
#[inline(always)]
pub(crate) fn quantize(x: f32, scale: f32) -> i8 {
    (x / scale).clamp(-128.0, 127.0).round_ties_even() as i8
}

/// `out[i] = quantize(x[i], scale)`, compiled for the CPU's best instruction set (the
/// baseline target has no rounding instruction: a library call per value otherwise).
pub(crate) fn quantize_all(x: &[f32], scale: f32, out: &mut [i8]) {
    vectorized(
        #[inline(always)]
        || {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = quantize(v, scale);
            }
        },
    )
}

/// Row by row (`scales.len()` values each): `y = (sum + bias) · scale`, the i32 sums of a
/// layer back to real values.
pub(crate) fn dequantize(sums: &[i32], bias: &[i32], scales: &[f32], y: &mut [f32]) {
    let width = scales.len();
    vectorized(
        #[inline(always)]
        || {
            for (y, sums) in y.chunks_exact_mut(width).zip(sums.chunks_exact(width)) {
                for (((y, &a), &b), &s) in y.iter_mut().zip(sums).zip(bias).zip(scales) {
                    *y = a.saturating_add(b) as f32 * s;
                }
            }
        },
    )
}

/// `out = quantize(act(y) [+ input · input_scale], scale)`: a hidden layer's output as the
/// next layer's int8 input (`residual`: the layer's own int8 input and its scale).
pub(crate) fn activate_quantize(
    act: Activation,
    y: &[f32],
    residual: Option<(&[i8], f32)>,
    scale: f32,
    out: &mut [i8],
) {
    vectorized(
        #[inline(always)]
        || match residual {
            None => {
                for (o, &y) in out.iter_mut().zip(y) {
                    *o = quantize(activation::value(act, y), scale);
                }
            }
            Some((input, input_scale)) => {
                for ((o, &y), &x) in out.iter_mut().zip(y).zip(input) {
                    let a = activation::value(act, y) + f32::from(x) * input_scale;
                    *o = quantize(a, scale);
                }
            }
        },
    )
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
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        let blocked = if rows >= avx2::ROWS && k >= 16 {
            simd.vectorize(
                #[inline(always)]
                || avx2::sweep_rows(simd, x, w, out, k, cols),
            )
        } else {
            0
        };
        let (x, out) = (&x[blocked * k..], &mut out[blocked * cols..]);
        simd.vectorize(
            #[inline(always)]
            || sweep(x, w, out, k, cols, |x, rows| avx2::dot4(simd, x, rows)),
        );
        return;
    }
    vectorized(
        #[inline(always)]
        || sweep(x, w, out, k, cols, dot4),
    )
}

/// The product, four output units at a time through `dot4` (each input row loaded once for
/// four dot products), the remaining units one by one.
#[inline(always)]
fn sweep(
    x: &[i8],
    w: &[i8],
    out: &mut [i32],
    k: usize,
    cols: usize,
    dot4: impl Fn(&[i8], [&[i8]; 4]) -> [i32; 4],
) {
    for (x_row, out_row) in x.chunks_exact(k).zip(out.chunks_exact_mut(cols)) {
        let mut units = w.chunks_exact(4 * k);
        let mut c = 0;
        for four in &mut units {
            let (w0, rest) = four.split_at(k);
            let (w1, rest) = rest.split_at(k);
            let (w2, w3) = rest.split_at(k);
            out_row[c..c + 4].copy_from_slice(&dot4(x_row, [w0, w1, w2, w3]));
            c += 4;
        }
        for w_row in units.remainder().chunks_exact(k) {
            out_row[c] = dot(x_row, w_row);
            c += 1;
        }
    }
}

/// The AVX2 dot products: 16 bytes sign-extended to 16 i16 lanes, multiplied and summed in
/// pairs into 8 i32 lanes (`vpmaddwd`), through pulp's safe wrappers of the intrinsics.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::{__m128i, __m256i};

    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    use super::dot;

    /// Input rows per block of [`sweep_rows`].
    pub(super) const ROWS: usize = 4;

    /// The product for the leading multiple of [`ROWS`] input rows, which it returns: each
    /// block of four rows is widened to i16 once, and each pair of weight rows is widened once
    /// per block and multiplied with all four (eight accumulators), so a weight byte is
    /// loaded and sign-extended once per four inputs instead of once per input. Inputs past
    /// the last multiple of 16 are summed in plain Rust.
    #[inline(always)]
    pub(super) fn sweep_rows(
        simd: V3,
        x: &[i8],
        w: &[i8],
        out: &mut [i32],
        k: usize,
        cols: usize,
    ) -> usize {
        let avx2 = simd.avx2;
        let steps = k / 16;
        let head = steps * 16;
        let mut wide = vec![[0i16; 16]; ROWS * steps];
        let zero: __m256i = cast([0i32; 8]);
        let blocks = x.len() / k / ROWS;
        for (x_block, out_block) in x
            .chunks_exact(ROWS * k)
            .zip(out.chunks_exact_mut(ROWS * cols))
        {
            for (wide_row, x_row) in wide.chunks_exact_mut(steps).zip(x_block.chunks_exact(k)) {
                for (v, xs) in wide_row.iter_mut().zip(x_row.as_chunks::<16>().0) {
                    *v = xs.map(i16::from);
                }
            }
            let [x0, x1, x2, x3]: [&[[i16; 16]]; ROWS] =
                core::array::from_fn(|r| &wide[r * steps..(r + 1) * steps]);
            let mut pairs = w.chunks_exact(2 * k);
            let mut c = 0;
            for pair in &mut pairs {
                let (w0, w1) = pair.split_at(k);
                let (b0, b1) = (
                    &w0.as_chunks::<16>().0[..steps],
                    &w1.as_chunks::<16>().0[..steps],
                );
                let mut acc = [[zero; 2]; ROWS];
                for s in 0..steps {
                    let wv = [b0[s], b1[s]]
                        .map(|b| avx2._mm256_cvtepi8_epi16(cast::<[i8; 16], __m128i>(b)));
                    for (acc, xs) in acc.iter_mut().zip([x0[s], x1[s], x2[s], x3[s]]) {
                        let xv: __m256i = cast(xs);
                        for (a, wv) in acc.iter_mut().zip(wv) {
                            *a = avx2._mm256_add_epi32(*a, avx2._mm256_madd_epi16(xv, wv));
                        }
                    }
                }
                for (r, (acc, x_row)) in acc.iter().zip(x_block.chunks_exact(k)).enumerate() {
                    for (j, (a, w_row)) in acc.iter().zip([w0, w1]).enumerate() {
                        let lanes: [i32; 8] = cast(*a);
                        out_block[r * cols + c + j] =
                            lanes.iter().sum::<i32>() + dot(&x_row[head..], &w_row[head..]);
                    }
                }
                c += 2;
            }
            if let Some(w_row) = pairs.remainder().chunks_exact(k).next() {
                for (r, x_row) in x_block.chunks_exact(k).enumerate() {
                    out_block[r * cols + c] = dot(x_row, w_row);
                }
            }
        }
        blocks * ROWS
    }

    /// Four dot products of `x` with four rows (16 inputs per step; the tail in plain Rust).
    #[inline(always)]
    pub(super) fn dot4(simd: V3, x: &[i8], w: [&[i8]; 4]) -> [i32; 4] {
        let avx2 = simd.avx2;
        let (xb, x_tail) = x.as_chunks::<16>();
        let split = xb.len() * 16;
        let rows = w.map(|row| row.split_at(split));
        let [b0, b1, b2, b3] = rows.map(|(head, _)| head.as_chunks::<16>().0);
        let zero: __m256i = cast([0i32; 8]);
        let mut acc = [zero; 4];
        let weights = b0.iter().zip(b1).zip(b2).zip(b3);
        for (xs, (((w0, w1), w2), w3)) in xb.iter().zip(weights) {
            let xv = avx2._mm256_cvtepi8_epi16(cast::<[i8; 16], __m128i>(*xs));
            for (a, ws) in acc.iter_mut().zip([w0, w1, w2, w3]) {
                let wv = avx2._mm256_cvtepi8_epi16(cast::<[i8; 16], __m128i>(*ws));
                *a = avx2._mm256_add_epi32(*a, avx2._mm256_madd_epi16(xv, wv));
            }
        }
        let mut out = [0i32; 4];
        for ((o, a), (_, tail)) in out.iter_mut().zip(acc).zip(&rows) {
            let lanes: [i32; 8] = cast(a);
            *o = lanes.iter().sum::<i32>() + dot(x_tail, tail);
        }
        out
    }
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
        let shapes = [
            (3, 1, 1),
            (5, 17, 9),
            (2, 64, 4),
            (4, 100, 13),
            (1, 33, 0),
            (9, 48, 6),
            (8, 16, 3),
            (7, 784, 10),
            (6, 15, 5),
        ];
        for (rows, k, cols) in shapes {
            let x = Array2::from_shape_fn((rows, k), |(r, i)| ((r * 31 + i * 7) % 256) as u8 as i8);
            let w = Array2::from_shape_fn((cols, k), |(c, i)| {
                ((c * 13 + i * 11 + 5) % 255) as u8 as i8
            });
            let mut out = Array2::from_elem((rows, cols), 99);
            matmul_i8(out.view_mut(), x.view(), w.view());
            // The portable path too, which this machine's AVX2 path bypasses.
            let mut portable = Array2::zeros((rows, cols));
            if let (Some(xs), Some(ws), Some(o)) =
                (x.as_slice(), w.as_slice(), portable.as_slice_mut())
                && cols > 0
            {
                sweep(xs, ws, o, k, cols, dot4);
            }
            assert_eq!(
                portable, out,
                "{rows}×{k}×{cols}: portable against matmul_i8"
            );
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
        let x = Array2::from_elem((5, 40), -128i8);
        let mut out = Array2::zeros((5, 5));
        matmul_i8(
            out.view_mut(),
            x.view(),
            Array2::from_elem((5, 40), -128i8).view(),
        );
        assert!(out.iter().all(|&v| v == 40 * 16_384));
    }
}
