//! Scrambled Sobol points: a linear matrix scramble plus a random digital shift (the
//! scrambling SciPy uses), which keeps the net property of every power-of-two prefix.
//! Point `i` is a pure function of `(seed, i)`, so an initial design can be continued across
//! calls.

mod directions;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use directions::{DIMENSIONS, TABLE};

const BITS: usize = 32;

/// A scrambled Sobol sequence in `[0, 1)^d`.
#[derive(Debug, Clone)]
pub struct Sobol {
    /// Scrambled direction integers per dimension, `BITS` each.
    directions: Vec<[u32; BITS]>,
    shift: Vec<u32>,
    /// Seed of the pseudo-random coordinates used past the table's dimensions.
    overflow_seed: u64,
}

/// Unscrambled direction integers `v_k` (`k = 0..32`, most significant bit first) of table
/// dimension `j`.
fn direction_integers(j: usize) -> [u32; BITS] {
    let mut v = [0u32; BITS];
    let (poly, init) = TABLE[j];
    let s = (32 - poly.leading_zeros() - 1) as usize;
    if s == 0 {
        for (k, vk) in v.iter_mut().enumerate() {
            *vk = 1 << (BITS - 1 - k);
        }
        return v;
    }
    let a = (poly >> 1) & ((1u32 << (s - 1)) - 1);
    for k in 0..BITS {
        v[k] = if k < s {
            u32::from(init[k]) << (BITS - 1 - k)
        } else {
            let mut value = v[k - s] ^ (v[k - s] >> s);
            for l in 1..s {
                if (a >> (s - 1 - l)) & 1 == 1 {
                    value ^= v[k - l];
                }
            }
            value
        };
    }
    v
}

/// Applies a lower-triangular binary matrix (unit diagonal) to the digits of `x`: output
/// digit `r` (bit `31 - r`) is the parity of `rows[r] & x`.
fn scramble(rows: &[u32; BITS], x: u32) -> u32 {
    let mut out = 0u32;
    for (r, row) in rows.iter().enumerate() {
        out |= ((row & x).count_ones() & 1) << (BITS - 1 - r);
    }
    out
}

/// SplitMix64 finalizer, used for coordinates past the table.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Sobol {
    /// A sequence in `dims` dimensions scrambled from `seed`. Dimensions past the 256 of the
    /// direction table get independent pseudo-random coordinates instead.
    pub fn new(dims: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut directions = Vec::with_capacity(dims.min(DIMENSIONS));
        let mut shift = Vec::with_capacity(dims.min(DIMENSIONS));
        for j in 0..dims.min(DIMENSIONS) {
            let mut rows = [0u32; BITS];
            for (r, row) in rows.iter_mut().enumerate() {
                let above = if r == 0 { 0 } else { !0u32 << (BITS - r) };
                *row = (1 << (BITS - 1 - r)) | (rng.next_u32() & above);
            }
            let raw = direction_integers(j);
            let mut scrambled = [0u32; BITS];
            for k in 0..BITS {
                scrambled[k] = scramble(&rows, raw[k]);
            }
            directions.push(scrambled);
            shift.push(rng.next_u32());
        }
        Self {
            directions,
            shift,
            overflow_seed: rng.next_u64(),
        }
    }

    /// Writes point `index` into `out` (one coordinate per dimension).
    pub fn point(&self, index: u32, out: &mut [f64]) {
        for (j, o) in out.iter_mut().enumerate() {
            let bits = if let Some(v) = self.directions.get(j) {
                let mut x = self.shift[j];
                let mut i = index;
                let mut k = 0;
                while i != 0 {
                    if i & 1 == 1 {
                        x ^= v[k];
                    }
                    i >>= 1;
                    k += 1;
                }
                x
            } else {
                (mix(self.overflow_seed ^ mix(j as u64) ^ u64::from(index).rotate_left(32)) >> 32)
                    as u32
            };
            *o = (f64::from(bits) + 0.5) / 4_294_967_296.0;
        }
    }

    /// Points `start..start + count`, row-major.
    pub fn points(&self, start: u32, count: usize, dims: usize) -> Vec<f64> {
        let mut out = vec![0.0; count * dims];
        for (i, row) in out.chunks_mut(dims.max(1)).enumerate() {
            self.point(start + i as u32, row);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscrambled_points_match_scipy() {
        // scipy.stats.qmc.Sobol(d=4, scramble=False) lists points in Gray-code order; in
        // direct order, point 3 = v_0 ^ v_1 and point 4 = v_2.
        let v: Vec<[u32; BITS]> = (0..4).map(direction_integers).collect();
        let coord = |i: u32, j: usize| {
            let mut x = 0u32;
            for (k, vk) in v[j].iter().enumerate() {
                if (i >> k) & 1 == 1 {
                    x ^= vk;
                }
            }
            f64::from(x) / 4_294_967_296.0
        };
        let p1: Vec<f64> = (0..4).map(|j| coord(1, j)).collect();
        assert_eq!(p1, vec![0.5; 4]);
        // SciPy's Gray-code point 2 is index 3 in direct order: (0.75, 0.25, 0.25, 0.25).
        let p3: Vec<f64> = (0..4).map(|j| coord(3, j)).collect();
        assert_eq!(p3, vec![0.75, 0.25, 0.25, 0.25]);
        // SciPy's point 4 (Gray code 6 = 0b110 → v_1 ^ v_2): (0.375, 0.375, 0.625, 0.875).
        let p6: Vec<f64> = (0..4).map(|j| coord(6, j)).collect();
        assert_eq!(p6, vec![0.375, 0.375, 0.625, 0.875]);
    }

    #[test]
    fn scrambled_prefixes_are_nets_in_every_pair_of_dimensions() {
        // 2^8 points: each 2-D projection of the first 16 dimensions puts exactly one point
        // in each cell of a 16×16 grid when the dimensions have t = 0 ... at least a
        // (t, 8, 2)-net with small t: every 2^4 × 2^4 cell holds at most 4 points, and each
        // 1-D projection is perfectly stratified into 256 cells.
        let dims = 16;
        let sobol = Sobol::new(dims, 42);
        let pts = sobol.points(0, 256, dims);
        for j in 0..dims {
            let mut seen = [false; 256];
            for i in 0..256 {
                let cell = (pts[i * dims + j] * 256.0) as usize;
                assert!(!seen[cell], "dimension {j}: cell {cell} twice");
                seen[cell] = true;
            }
        }
        for a in 0..dims {
            for b in a + 1..dims {
                let mut count = [0u32; 256];
                for i in 0..256 {
                    let (x, y) = (
                        (pts[i * dims + a] * 16.0) as usize,
                        (pts[i * dims + b] * 16.0) as usize,
                    );
                    count[x * 16 + y] += 1;
                }
                let max = count.iter().max().copied().unwrap_or(0);
                assert!(max <= 4, "dimensions {a},{b}: a cell holds {max} points");
            }
        }
    }

    #[test]
    fn same_seed_same_points_and_seeds_differ() {
        let a = Sobol::new(300, 1).points(5, 3, 300);
        let b = Sobol::new(300, 1).points(5, 3, 300);
        let c = Sobol::new(300, 2).points(5, 3, 300);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.iter().all(|v| (0.0..1.0).contains(v)));
    }
}
