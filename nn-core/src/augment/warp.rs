//! One example into its batch row: its pixel values written into its [`Canvas`], then warped
//! bilinearly, standardized and clipped in one pass. Each output pixel is computed by the
//! same f32 operations on every path (no fused multiply-add), so the AVX2 path, the portable
//! one and any mix of the two give bit-identical batches.
//!
//! The AVX2 path takes 8 pixels of an output row at once. Their source points lie on a
//! segment, so the lanes' source columns span at most 8 neighbouring values and their source
//! rows at most ⌊7·|sin|⌋ + 2 values: each source row of that window is loaded as two
//! vectors (the left and the right neighbours), permuted to the lanes (`vpermps`) and blended
//! into the lanes whose top or bottom neighbour row it is; when the 8 lanes read 8
//! consecutive columns (most blocks at small angles) the permutation is skipped. In a trial
//! on the benchmark machine (AMD Zen 3) AVX2 gathers took 1.7 times as long and the scalar
//! loop eight times.

use super::canvas::{Canvas, InverseMap};

/// How each feature is standardized: what turns an example's features into pixel values, and
/// a warped pixel value back into a feature, clipped to the feature's range over the
/// training rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Features<'a> {
    /// Each feature's mean.
    pub mean: &'a [f32],
    /// Each feature's standard deviation (1 / `scale`): what un-standardizes.
    pub std: &'a [f32],
    /// 1 / each feature's standard deviation.
    pub scale: &'a [f32],
    /// Each feature's smallest standardized value over the training rows.
    pub low: &'a [f32],
    /// Each feature's largest standardized value over the training rows.
    pub high: &'a [f32],
}

impl<'a> Features<'a> {
    /// The features `start..start + len`.
    #[inline(always)]
    fn part(&self, start: usize, len: usize) -> Features<'a> {
        let part = |v: &'a [f32]| &v[start..start + len];
        Features {
            mean: part(self.mean),
            std: part(self.std),
            scale: part(self.scale),
            low: part(self.low),
            high: part(self.high),
        }
    }

    /// Feature `i`'s standardized, clipped `value`.
    #[inline(always)]
    fn finish(&self, i: usize, value: f32) -> f32 {
        ((value - self.mean[i]) * self.scale[i]).clamp(self.low[i], self.high[i])
    }
}

/// Writes into `out` the example `src` (standardized, row-major) warped by `map` through
/// `canvas`, with the CPU's best path.
pub(super) fn augment(
    canvas: &mut Canvas,
    src: &[f32],
    map: &InverseMap,
    out: &mut [f32],
    features: Features<'_>,
) {
    #[cfg(target_arch = "x86_64")]
    if canvas.shape().1 >= super::canvas::LANES
        && let Some(simd) = pulp::x86::V3::try_new()
    {
        simd.vectorize(
            #[inline(always)]
            || avx2::augment(simd, canvas, src, map, out, features),
        );
        return;
    }
    crate::linalg::vectorized(
        #[inline(always)]
        || augment_portable(canvas, src, map, out, features),
    );
}

/// [`augment`] one pixel at a time (CPUs without AVX2, images narrower than 8 pixels).
#[inline(always)]
pub(super) fn augment_portable(
    canvas: &mut Canvas,
    src: &[f32],
    map: &InverseMap,
    out: &mut [f32],
    features: Features<'_>,
) {
    let width = canvas.shape().1;
    for (y, row) in src.chunks_exact(width).enumerate() {
        let features = features.part(y * width, width);
        let pixels = canvas.image_row_mut(y);
        for (i, (p, &v)) in pixels.iter_mut().zip(row).enumerate() {
            *p = v * features.std[i] + features.mean[i];
        }
    }
    for (y, row) in out.chunks_exact_mut(width).enumerate() {
        let features = features.part(y * width, width);
        pixels(canvas, map, map.row(y), 0..width, row, features);
    }
}

/// Output pixels `xs` of the row whose terms are `(bx, by)`; `row` and `features` are that
/// output row's.
#[inline(always)]
fn pixels(
    canvas: &Canvas,
    map: &InverseMap,
    (bx, by): (f32, f32),
    xs: std::ops::Range<usize>,
    row: &mut [f32],
    features: Features<'_>,
) {
    for x in xs {
        let xf = x as f32;
        let value = bilinear(canvas, map.cos * xf + bx, by - map.sin * xf);
        row[x] = features.finish(x, value);
    }
}

/// The canvas interpolated bilinearly at (sx, sy), both ≥ 0 (inside the border).
#[inline(always)]
fn bilinear(canvas: &Canvas, sx: f32, sy: f32) -> f32 {
    let (values, stride) = (canvas.values(), canvas.stride());
    let (x0, y0) = (sx.floor(), sy.floor());
    let (fx, fy) = (sx - x0, sy - y0);
    let i = y0 as usize * stride + x0 as usize;
    let (a, b) = (values[i], values[i + 1]);
    let (d, e) = (values[i + stride], values[i + stride + 1]);
    let top = a + fx * (b - a);
    let low = d + fx * (e - d);
    top + fy * (low - top)
}

/// The AVX2 path, through pulp's safe wrappers of the intrinsics.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::{__m256, __m256i};

    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    use super::super::canvas::{Canvas, InverseMap, LANES};
    use super::{Features, pixels};

    /// What every 8-pixel block of one example shares.
    #[derive(Clone, Copy)]
    struct Blocks {
        simd: V3,
        cos: __m256,
        sin: __m256,
        /// The lanes' offsets 0..8.
        lanes: __m256,
        /// Source rows in a block's window beyond its first two: ⌊7·|sin|⌋ + 1.
        extra_rows: i32,
        /// The lane with the smallest source column (0 when cos ≥ 0, else 7).
        left_lane: usize,
        /// The lane with the smallest source row (7 when sin > 0, else 0).
        top_lane: usize,
    }

    /// [`super::augment`] in blocks of 8 pixels; a row's last block overlaps the one before
    /// it when the width is not a multiple of 8 (it recomputes the same values).
    #[inline(always)]
    pub(super) fn augment(
        simd: V3,
        canvas: &mut Canvas,
        src: &[f32],
        map: &InverseMap,
        out: &mut [f32],
        features: Features<'_>,
    ) {
        let avx = simd.avx;
        let width = canvas.shape().1;
        for (y, row) in src.chunks_exact(width).enumerate() {
            let features = features.part(y * width, width);
            let pixels = canvas.image_row_mut(y);
            for x0 in blocks(width) {
                let values = avx._mm256_add_ps(
                    avx._mm256_mul_ps(vector(&row[x0..x0 + LANES]), vector(&features.std[x0..])),
                    vector(&features.mean[x0..]),
                );
                pixels[x0..x0 + LANES].copy_from_slice(&cast::<__m256, [f32; 8]>(values));
            }
        }
        let blocks_of = Blocks {
            simd,
            cos: avx._mm256_set1_ps(map.cos),
            sin: avx._mm256_set1_ps(map.sin),
            lanes: cast([0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
            extra_rows: (7.0 * map.sin.abs()).floor() as i32 + 1,
            left_lane: if map.cos >= 0.0 { 0 } else { LANES - 1 },
            top_lane: if map.sin > 0.0 { LANES - 1 } else { 0 },
        };
        for (y, row) in out.chunks_exact_mut(width).enumerate() {
            let terms = map.row(y);
            let features = features.part(y * width, width);
            for x0 in blocks(width) {
                let block = (x0, &mut row[x0..x0 + LANES]);
                if !warp_block(&blocks_of, canvas, terms, block, features.part(x0, LANES)) {
                    pixels(canvas, map, terms, x0..x0 + LANES, row, features);
                }
            }
        }
    }

    /// The first columns of a row's blocks of 8: 0, 8, 16, … and, when the width is not a
    /// multiple of 8, a last block ending at the row's end.
    #[inline(always)]
    fn blocks(width: usize) -> impl Iterator<Item = usize> {
        let full = width / LANES;
        let overlap = (!width.is_multiple_of(LANES)).then_some(width - LANES);
        (0..full).map(|b| b * LANES).chain(overlap)
    }

    /// Output pixels x0..x0 + 8 of the row with terms `(bx, by)` into `out`; false (and
    /// nothing written) when their source points do not fit one window (8 columns, the
    /// rows [`Blocks::extra_rows`] allows), which only rounding at a window's edge causes.
    #[inline(always)]
    fn warp_block(
        blocks: &Blocks,
        canvas: &Canvas,
        (bx, by): (f32, f32),
        (x0, out): (usize, &mut [f32]),
        features: Features<'_>,
    ) -> bool {
        let (avx, avx2) = (blocks.simd.avx, blocks.simd.avx2);
        let xf = avx._mm256_add_ps(blocks.lanes, avx._mm256_set1_ps(x0 as f32));
        let sx = avx._mm256_add_ps(avx._mm256_mul_ps(blocks.cos, xf), avx._mm256_set1_ps(bx));
        let sy = avx._mm256_sub_ps(avx._mm256_set1_ps(by), avx._mm256_mul_ps(blocks.sin, xf));
        let (floor_x, floor_y) = (avx._mm256_floor_ps(sx), avx._mm256_floor_ps(sy));
        let (fx, fy) = (
            avx._mm256_sub_ps(sx, floor_x),
            avx._mm256_sub_ps(sy, floor_y),
        );
        let (ix, iy) = (
            avx._mm256_cvttps_epi32(floor_x),
            avx._mm256_cvttps_epi32(floor_y),
        );
        let (columns, rows): ([i32; 8], [i32; 8]) = (cast(ix), cast(iy));
        let (left, top) = (columns[blocks.left_lane], rows[blocks.top_lane]);
        let (right, bottom) = (
            columns[LANES - 1 - blocks.left_lane],
            rows[LANES - 1 - blocks.top_lane],
        );
        if right - left >= LANES as i32 || bottom - top > blocks.extra_rows {
            return false;
        }
        // Each lane's column inside the window, or None when lane i reads column i (8
        // distinct columns left to right: no permutation needed), as most blocks do when
        // the angle is small.
        let column = (right - left != LANES as i32 - 1 || blocks.left_lane != 0)
            .then(|| avx2._mm256_sub_epi32(ix, avx._mm256_set1_epi32(left)));
        let row = avx2._mm256_sub_epi32(iy, avx._mm256_set1_epi32(top));
        let (values, stride) = (canvas.values(), canvas.stride());
        let mut at = top as usize * stride + left as usize;
        // Window row k is the top neighbour row of the lanes with row k, the bottom one of
        // those with row k − 1.
        let mut upper = across(blocks.simd, &values[at..], column, fx);
        at += stride;
        let mut previous = across(blocks.simd, &values[at..], column, fx);
        let mut lower = previous;
        for k in 1..=blocks.extra_rows {
            at += stride;
            let next = across(blocks.simd, &values[at..], column, fx);
            let here: __m256 = cast(avx2._mm256_cmpeq_epi32(row, avx._mm256_set1_epi32(k)));
            upper = avx._mm256_blendv_ps(upper, previous, here);
            lower = avx._mm256_blendv_ps(lower, next, here);
            previous = next;
        }
        let value = avx._mm256_add_ps(
            upper,
            avx._mm256_mul_ps(fy, avx._mm256_sub_ps(lower, upper)),
        );
        let standardized = avx._mm256_mul_ps(
            avx._mm256_sub_ps(value, vector(features.mean)),
            vector(features.scale),
        );
        let clipped = avx._mm256_min_ps(
            avx._mm256_max_ps(standardized, vector(features.low)),
            vector(features.high),
        );
        out.copy_from_slice(&cast::<__m256, [f32; 8]>(clipped));
        true
    }

    /// Each lane's value interpolated between window column `column` of `values` (a source
    /// row from the window's left edge; `None`: the lane's own column) and the next, at
    /// fraction `fx`.
    #[inline(always)]
    fn across(simd: V3, values: &[f32], column: Option<__m256i>, fx: __m256) -> __m256 {
        let (avx, avx2) = (simd.avx, simd.avx2);
        let (mut a, mut b) = (vector(&values[..LANES]), vector(&values[1..=LANES]));
        if let Some(column) = column {
            a = avx2._mm256_permutevar8x32_ps(a, column);
            b = avx2._mm256_permutevar8x32_ps(b, column);
        }
        avx._mm256_add_ps(a, avx._mm256_mul_ps(fx, avx._mm256_sub_ps(b, a)))
    }

    /// The first 8 values of a slice as a vector.
    #[inline(always)]
    fn vector(values: &[f32]) -> __m256 {
        let mut lanes = [0.0f32; LANES];
        lanes.copy_from_slice(&values[..LANES]);
        cast(lanes)
    }
}
