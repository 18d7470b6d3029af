//! The one matrix-product wrapper: every GEMM of the crate goes through [`matmul`], so the
//! backend (faer today) changes in one place. Matrices are row-major `f32` slices viewed
//! without copying; a transposed operand is just a transposed view.
//!
//! [`vectorized`] runs an elementwise loop compiled for the best instruction set the CPU has
//! (detected at run time; the default build targets baseline x86-64, whose 4-lane SSE code
//! made the fused Adam update a third of the epoch).

use faer::linalg::matmul::matmul as faer_matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// A row-major matrix view over a slice, possibly transposed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl<'a> View<'a> {
    /// The first `rows * cols` values of `data` as a `rows`×`cols` row-major matrix.
    pub(crate) fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data: &data[..rows * cols],
            rows,
            cols,
            transposed: false,
        }
    }

    /// The transpose (no copy).
    pub(crate) fn t(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    fn shape(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    fn faer(&self) -> MatRef<'a, f32> {
        let m = MatRef::from_row_major_slice(self.data, self.rows, self.cols);
        if self.transposed { m.transpose() } else { m }
    }
}

/// Runs `f` with the CPU's best SIMD instruction set enabled (AVX2 + FMA where present), so
/// the loops inlined into it are auto-vectorized for it. The loops must be `#[inline(always)]`
/// all the way down. Floating-point results are the same as without it (no fast-math).
#[inline(always)]
pub(crate) fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    pulp::Arch::new().dispatch(f)
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

/// `out = a · b` (or `out += a · b` when `accumulate`), `out` row-major with `a`'s rows and
/// `b`'s columns.
pub(crate) fn matmul(
    out: &mut [f32],
    accumulate: bool,
    a: View<'_>,
    b: View<'_>,
    threads: Threads<'_>,
) {
    let (m, k) = a.shape();
    let (k2, n) = b.shape();
    assert_eq!(k, k2, "matmul: inner dimensions differ");
    let out = &mut out[..m * n];
    let beta = if accumulate {
        Accum::Add
    } else {
        Accum::Replace
    };
    match threads {
        Threads::Pool(pool)
            if pool.current_num_threads() > 1 && m >= 2 * pool.current_num_threads() =>
        {
            let parts = pool.current_num_threads();
            let rows_per = m.div_ceil(parts);
            let (a, b) = (a.faer(), b.faer());
            pool.scope(|s| {
                for (i, chunk) in out.chunks_mut(rows_per * n).enumerate() {
                    let rows = chunk.len() / n;
                    let a_part = a.subrows(i * rows_per, rows);
                    s.spawn(move |_| {
                        let dst = MatMut::from_row_major_slice_mut(chunk, rows, n);
                        faer_matmul(dst, beta, a_part, b, 1.0f32, Par::Seq);
                    });
                }
            });
        }
        _ => {
            let dst = MatMut::from_row_major_slice_mut(out, m, n);
            faer_matmul(dst, beta, a.faer(), b.faer(), 1.0f32, Par::Seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut t = vec![0.0; a.len()];
        for i in 0..rows {
            for j in 0..cols {
                t[j * rows + i] = a[i * cols + j];
            }
        }
        t
    }

    #[test]
    fn products_match_the_naive_loop_in_every_layout() {
        let (m, k, n) = (37, 19, 23);
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 4.0)
            .collect();
        let expected = naive(&a, &b, m, k, n);
        let at = transpose(&a, m, k);
        let bt = transpose(&b, k, n);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        for threads in [Threads::One, Threads::Pool(&pool)] {
            for (av, bv) in [
                (View::new(&a, m, k), View::new(&b, k, n)),
                (View::new(&at, k, m).t(), View::new(&b, k, n)),
                (View::new(&a, m, k), View::new(&bt, n, k).t()),
            ] {
                let mut out = vec![1.0; m * n];
                matmul(&mut out, false, av, bv, threads);
                for (x, y) in out.iter().zip(&expected) {
                    assert!((x - y).abs() < 1e-4, "{x} vs {y}");
                }
                matmul(&mut out, true, av, bv, threads);
                for (x, y) in out.iter().zip(&expected) {
                    assert!((x - 2.0 * y).abs() < 1e-4, "{x} vs {y}");
                }
            }
        }
    }
}
