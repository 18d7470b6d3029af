//! Inverted dropout with masks from a counter-based hash: the mask of a batch is a pure
//! function of (seed, step, layer, position), so it is reproducible, needs no generator state,
//! and the loop that draws it vectorizes.

use ndarray::ArrayViewMut2;

use crate::linalg::{flat_mut, vectorized};

/// A 32-bit integer hash with good avalanche (Wellons' "lowbias32").
#[inline(always)]
fn hash32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^= x >> 16;
    x
}

/// Mixes 64-bit values into one key (SplitMix64's finalizer).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_add(0x9e37_79b9_7f4a_7c15)
        .wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `mask` with 0 (dropped, probability `p`) or 1/(1−p) (kept) from `key`, and multiplies
/// `out` by it. Element `i` (in row-major order) draws from `(key, i)`.
pub(crate) fn apply(out: ArrayViewMut2<'_, f32>, mask: ArrayViewMut2<'_, f32>, p: f32, key: u64) {
    assert_eq!(out.dim(), mask.dim(), "dropout: the mask has another shape");
    let (out, mask) = (flat_mut(out), flat_mut(mask));
    vectorized(
        #[inline(always)]
        || {
            let threshold = (f64::from(p) * 4_294_967_296.0) as u64;
            let threshold = threshold.min(u64::from(u32::MAX)) as u32;
            let keep = 1.0 / (1.0 - p);
            let (lo, hi) = (key as u32, (key >> 32) as u32);
            for (i, (o, m)) in out.iter_mut().zip(mask.iter_mut()).enumerate() {
                let h = hash32(hash32((i as u32) ^ lo) ^ hi);
                *m = if h >= threshold { keep } else { 0.0 };
                *o *= *m;
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::*;

    #[test]
    fn drops_about_p_and_keeps_the_expectation() {
        let shape = (500, 200);
        let n = (shape.0 * shape.1) as f64;
        let mut out = Array2::from_elem(shape, 1.0f32);
        let mut mask = Array2::zeros(shape);
        apply(out.view_mut(), mask.view_mut(), 0.3, mix(7, 1));
        let dropped = mask.iter().filter(|m| **m == 0.0).count() as f64 / n;
        assert!((dropped - 0.3).abs() < 0.01, "dropped {dropped}");
        let mean = out.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
        let mut again = Array2::from_elem(shape, 1.0f32);
        let mut mask2 = Array2::zeros(shape);
        apply(again.view_mut(), mask2.view_mut(), 0.3, mix(7, 1));
        assert_eq!(mask, mask2);
        apply(again.view_mut(), mask2.view_mut(), 0.3, mix(7, 2));
        assert_ne!(mask, mask2);
    }
}
