//! The one matrix-product wrapper: every GEMM of the crate goes through [`matmul`], so the
//! backend (faer today) changes in one place. Operands are ndarray views handed to faer
//! without copying: a row-major (standard-layout) view as it is, a transposed view (`.t()` of
//! a row-major array, i.e. column-major memory) as faer's transpose of it.
//!
//! [`vectorized`] runs an elementwise loop compiled for the best instruction set the CPU has
//! (detected at run time; the default build targets baseline x86-64, whose 4-lane SSE code
//! made the fused Adam update a third of the epoch). [`flat`] and [`flat_mut`] give those
//! loops the contiguous memory of a view.

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{ArrayView2, ArrayViewMut2};

/// Runs `f` with the CPU's best SIMD instruction set enabled (AVX2 + FMA where present), so
/// the loops inlined into it are auto-vectorized for it. The loops must be `#[inline(always)]`
/// all the way down. Floating-point results are the same as without it (no fast-math).
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
}

/// The elements of a row-major view in memory order.
///
/// # Panics
/// When the view is not contiguous and row-major: every caller passes whole arrays or leading
/// rows of arrays the crate allocated, so this is a bug, not bad input.
pub(crate) fn flat<'a, D: ndarray::Dimension>(a: ndarray::ArrayView<'a, f32, D>) -> &'a [f32] {
    a.to_slice().unwrap_or_else(|| not_row_major(a.shape()))
}

/// The elements of a row-major mutable view in memory order (see [`flat`]).
pub(crate) fn flat_mut<'a, D: ndarray::Dimension>(
    a: ndarray::ArrayViewMut<'a, f32, D>,
) -> &'a mut [f32] {
    // The shape is kept without allocating: this runs several times per batch.
    let dim = a.raw_dim();
    a.into_slice().unwrap_or_else(|| not_row_major(dim.slice()))
}

#[cold]
fn not_row_major(shape: &[usize]) -> ! {
    panic!("a view of shape {shape:?} is not contiguous row-major")
}

/// How many threads a product may use: `One` runs on the calling thread with no pool at all
/// (the fast path; parallelism across trials is the worker's job).
#[derive(Clone, Copy)]
pub(crate) enum Threads<'p> {
    /// The calling thread only.
    One,
    /// Split the output rows over this pool's threads.
    Pool(&'p rayon::ThreadPool),
}

/// A view as a faer matrix over the same memory: row-major as is, column-major (a transposed
/// row-major array) as a transpose.
fn faer_ref(a: ArrayView2<'_, f32>) -> MatRef<'_, f32> {
    let (rows, cols) = a.dim();
    if a.is_standard_layout() {
        MatRef::from_row_major_slice(flat(a), rows, cols)
    } else if a.t().is_standard_layout() {
        MatRef::from_row_major_slice(flat(a.reversed_axes()), cols, rows).transpose()
    } else {
        panic!(
            "matmul: a {rows}×{cols} operand with strides {:?} is neither row- nor column-major",
            a.strides()
        )
    }
}

/// The mutable counterpart of [`faer_ref`].
fn faer_mut(a: ArrayViewMut2<'_, f32>) -> MatMut<'_, f32> {
    let (rows, cols) = a.dim();
    if a.is_standard_layout() {
        MatMut::from_row_major_slice_mut(flat_mut(a), rows, cols)
    } else if a.t().is_standard_layout() {
        MatMut::from_row_major_slice_mut(flat_mut(a.reversed_axes()), cols, rows).transpose_mut()
    } else {
        panic!(
            "matmul: a {rows}×{cols} output with strides {:?} is neither row- nor column-major",
            a.strides()
        )
    }
}

/// `out = a · b` (or `out += a · b` when `accumulate`).
///
/// # Panics
/// When the shapes do not chain (`a` is m×k, `b` k×n, `out` m×n) or an operand is neither
/// row- nor column-major: both are bugs of the caller.
pub(crate) fn matmul(
    out: ArrayViewMut2<'_, f32>,
    accumulate: bool,
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    threads: Threads<'_>,
) {
    let ((m, k), (k2, n)) = (a.dim(), b.dim());
    assert!(
        k == k2 && out.dim() == (m, n),
        "matmul: {m}×{k} · {k2}×{n} into {:?}",
        out.dim()
    );
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    let (a, b, mut out) = (faer_ref(a), faer_ref(b), faer_mut(out));
    match threads {
        Threads::Pool(pool)
            if pool.current_num_threads() > 1 && m >= 2 * pool.current_num_threads() =>
        {
            let rows_per = m.div_ceil(pool.current_num_threads());
            pool.scope(|s| {
                let mut start = 0;
                while start < m {
                    let rows = rows_per.min(m - start);
                    let (chunk, rest) = out.split_at_row_mut(rows);
                    out = rest;
                    let a_part = a.subrows(start, rows);
                    s.spawn(move |_| faer_matmul(chunk, beta, a_part, b, 1.0f32, Par::Seq));
                    start += rows;
                }
            });
        }
        _ => faer_matmul(out, beta, a, b, 1.0f32, Par::Seq),
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, s};

    use super::*;

    fn close(x: ArrayView2<'_, f32>, y: ArrayView2<'_, f32>) -> bool {
        x.dim() == y.dim() && x.iter().zip(y.iter()).all(|(a, b)| (a - b).abs() < 1e-4)
    }

    fn naive(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
        let (m, n) = (a.nrows(), b.ncols());
        Array2::from_shape_fn((m, n), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    #[test]
    fn products_match_the_naive_loop_in_every_layout() {
        let (m, k, n) = (37, 19, 23);
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * k + j) * 7 % 13) as f32 / 5.0 - 1.2);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * n + j) * 5 % 11) as f32 / 4.0 - 1.25);
        let expected = naive(a.view(), b.view());
        // The same operands stored transposed, viewed back through `.t()`.
        let at = a.t().as_standard_layout().into_owned();
        let bt = b.t().as_standard_layout().into_owned();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for threads in [Threads::One, Threads::Pool(&pool)] {
            for (av, bv) in [
                (a.view(), b.view()),
                (at.t(), b.view()),
                (a.view(), bt.t()),
                (at.t(), bt.t()),
            ] {
                let mut out = Array2::from_elem((m, n), 1.0f32);
                matmul(out.view_mut(), false, av, bv, threads);
                assert!(close(out.view(), expected.view()), "{out} vs {expected}");
                matmul(out.view_mut(), true, av, bv, threads);
                assert!(close(out.view(), (&expected * 2.0).view()));
                // A column-major output: the transpose of a row-major array.
                let mut out_t = Array2::zeros((n, m));
                matmul(out_t.view_mut().reversed_axes(), false, av, bv, threads);
                assert!(close(out_t.t(), expected.view()));
            }
        }
        // Leading rows of a larger array (a partial last batch) stay row-major.
        let mut big = Array2::zeros((m + 5, n));
        matmul(
            big.slice_mut(s![..m, ..]),
            false,
            a.view(),
            b.view(),
            Threads::One,
        );
        assert!(close(big.slice(s![..m, ..]), expected.view()));
        assert!(big.slice(s![m.., ..]).iter().all(|v| *v == 0.0));
    }

    #[test]
    #[should_panic(expected = "matmul: 2×3 · 4×2")]
    fn mismatched_shapes_are_refused() {
        let (a, b) = (Array2::zeros((2, 3)), Array2::zeros((4, 2)));
        let mut out = Array2::zeros((2, 2));
        matmul(out.view_mut(), false, a.view(), b.view(), Threads::One);
    }

    #[test]
    #[should_panic(expected = "neither row- nor column-major")]
    fn strided_operands_are_refused() {
        let a = Array2::<f32>::zeros((4, 6));
        let b = Array2::zeros((3, 2));
        let mut out = Array2::zeros((4, 2));
        matmul(
            out.view_mut(),
            false,
            a.slice(s![.., ..;2]),
            b.view(),
            Threads::One,
        );
    }
}
