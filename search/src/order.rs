//! Order statistics over a growing multiset: insert, remove and the k-th smallest in time
//! that does not grow with the number of values in any way that matters (sorted blocks of a
//! bounded size: a binary search over the blocks, a move within one block, a walk over the
//! block sizes). What the pruners keep per epoch or rung instead of scanning every trial, and
//! what TPE keeps to find its best trials.

use std::cmp::Ordering;

/// Values per block before it splits in two.
const BLOCK: usize = 1024;

/// An `f64` ordered by [`f64::total_cmp`], so it can live in ordered collections.
#[derive(Debug, Clone, Copy)]
pub struct Total(pub f64);

impl PartialEq for Total {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Total {}

impl PartialOrd for Total {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Total {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A sorted multiset with the k-th smallest at hand.
#[derive(Debug, Clone)]
pub struct OrderStats<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for OrderStats<T> {
    fn default() -> Self {
        OrderStats {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Ord + Copy> OrderStats<T> {
    /// An empty multiset.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many values it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The block where `value` belongs: the first whose largest value is not below it.
    fn block_of(&self, value: &T) -> usize {
        let i = self
            .blocks
            .partition_point(|b| b.last().is_some_and(|last| last < value));
        i.min(self.blocks.len().saturating_sub(1))
    }

    /// Adds `value`.
    pub fn insert(&mut self, value: T) {
        self.len += 1;
        if self.blocks.is_empty() {
            self.blocks.push(vec![value]);
            return;
        }
        let i = self.block_of(&value);
        let block = &mut self.blocks[i];
        let at = block.partition_point(|v| v <= &value);
        block.insert(at, value);
        if block.len() > 2 * BLOCK {
            let upper = block.split_off(BLOCK);
            self.blocks.insert(i + 1, upper);
        }
    }

    /// Removes one copy of `value`; false if there was none.
    pub fn remove(&mut self, value: &T) -> bool {
        let first = self
            .blocks
            .partition_point(|b| b.last().is_some_and(|last| last < value));
        // Equal values may span blocks: look from the first that can hold it.
        for i in first..self.blocks.len() {
            let block = &mut self.blocks[i];
            let at = block.partition_point(|v| v < value);
            if at < block.len() {
                if &block[at] != value {
                    return false;
                }
                block.remove(at);
                if block.is_empty() {
                    self.blocks.remove(i);
                }
                self.len -= 1;
                return true;
            }
        }
        false
    }

    /// The `k`-th smallest value (0-based), if there are more than `k`.
    pub fn kth(&self, mut k: usize) -> Option<T> {
        if k >= self.len {
            return None;
        }
        for block in &self.blocks {
            if k < block.len() {
                return Some(block[k]);
            }
            k -= block.len();
        }
        None
    }

    /// The values in order, smallest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.blocks.iter().flatten()
    }
}

impl OrderStats<Total> {
    /// The `p`-th percentile (0–100) with linear interpolation between neighbours (numpy's
    /// default); `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let rank = p / 100.0 * (n - 1) as f64;
        let lo = rank.floor() as usize;
        let frac = rank - lo as f64;
        let a = self.kth(lo)?.0;
        if frac == 0.0 || lo + 1 >= n {
            return Some(a);
        }
        let b = self.kth(lo + 1)?.0;
        Some(a + frac * (b - a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn agrees_with_a_sorted_vector_through_inserts_and_removals() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut stats = OrderStats::new();
        let mut plain: Vec<i64> = Vec::new();
        for step in 0..20_000 {
            // Few distinct values, so equal runs cross block boundaries.
            let v: i64 = rng.random_range(0..300);
            if step % 3 == 2 && !plain.is_empty() {
                let pick = plain[rng.random_range(0..plain.len())];
                assert!(stats.remove(&pick));
                let at = plain.iter().position(|&x| x == pick).expect("present");
                plain.remove(at);
            } else {
                stats.insert(v);
                plain.push(v);
            }
            if step % 997 == 0 {
                plain.sort_unstable();
                for k in [0, plain.len() / 3, plain.len().saturating_sub(1)] {
                    assert_eq!(stats.kth(k), plain.get(k).copied(), "k = {k}");
                }
            }
        }
        plain.sort_unstable();
        assert_eq!(stats.len(), plain.len());
        assert!(stats.iter().copied().eq(plain.iter().copied()));
        assert!(!stats.remove(&1000));
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let mut stats = OrderStats::new();
        for v in [3.0, 1.0, 4.0, 1.5] {
            stats.insert(Total(v));
        }
        // numpy.percentile([3, 1, 4, 1.5], [50, 25, 100]) = 2.25, 1.375, 4.
        assert_eq!(stats.percentile(50.0), Some(2.25));
        assert_eq!(stats.percentile(25.0), Some(1.375));
        assert_eq!(stats.percentile(100.0), Some(4.0));
        assert_eq!(OrderStats::<Total>::new().percentile(50.0), None);
    }
}
