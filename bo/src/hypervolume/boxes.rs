//! The part of the space below a reference point that no point of a front dominates, as
//! disjoint axis-aligned boxes, for any number of minimized objectives.
//!
//! Sliced along the last objective: between two consecutive values of it, the points at or
//! below the slab are the ones that dominate anything in it, and the slab's cross-section is
//! the region those points leave free in the other objectives, found the same way one
//! objective fewer. In one objective that region is an interval from −∞. A point whose
//! projection an earlier one already dominates leaves every cross-section as it was, so it
//! opens no slab; a box of one cross-section that the next one has too is one box across
//! both slabs. With `k` points this gives `k + 1` boxes for two objectives, and for three a
//! few per point, as each new point changes only the part of the staircase it dominates.

use std::collections::BTreeMap;

/// One box: per objective, its lower edge (possibly −∞) and upper edge.
pub(crate) type Box = Vec<(f64, f64)>;

/// The disjoint boxes whose union is the set of points `z < reference` (in every objective)
/// that no point of `front` weakly dominates (`p ≤ z` in every objective), or `None` when
/// they would be more than `limit`. Points of `front` not below the reference in every
/// objective dominate nothing there and are left out; dominated and repeated points are
/// allowed.
pub(crate) fn nondominated_boxes(
    front: &[Vec<f64>],
    reference: &[f64],
    limit: usize,
) -> Option<Vec<Box>> {
    let inside: Vec<&[f64]> = front
        .iter()
        .map(Vec::as_slice)
        .filter(|p| p.len() == reference.len() && p.iter().zip(reference).all(|(v, r)| v < r))
        .collect();
    if reference.is_empty() {
        return Some(Vec::new());
    }
    slice(&inside, reference, limit)
}

/// Whether `a` weakly dominates `b` in their first `dims` objectives.
fn covers(a: &[f64], b: &[f64], dims: usize) -> bool {
    a[..dims].iter().zip(&b[..dims]).all(|(x, y)| x <= y)
}

/// A box's edges as bits: the key under which a cross-section's box is found again in the
/// next slab.
fn key(b: &Box) -> Vec<u64> {
    b.iter()
        .flat_map(|&(lo, hi)| [lo.to_bits(), hi.to_bits()])
        .collect()
}

/// The boxes of the region `points` (read in their first `upper.len()` objectives) leave
/// free below `upper`, or `None` past `limit` of them. A cross-section's box that the next
/// slab has too is extended into it rather than split.
fn slice(points: &[&[f64]], upper: &[f64], limit: usize) -> Option<Vec<Box>> {
    let dims = upper.len();
    if dims == 1 {
        let hi = points.iter().map(|p| p[0]).fold(upper[0], f64::min);
        return Some(vec![vec![(f64::NEG_INFINITY, hi)]]);
    }
    let last = dims - 1;
    let mut sorted: Vec<&[f64]> = points.to_vec();
    sorted.sort_by(|a, b| a[last].total_cmp(&b[last]));
    let mut active: Vec<&[f64]> = Vec::with_capacity(sorted.len());
    let mut done: Vec<Box> = Vec::new();
    // The previous slab's cross-section boxes, with where each started in `last`.
    let mut open: BTreeMap<Vec<u64>, (Box, f64)> = BTreeMap::new();
    let mut lo = f64::NEG_INFINITY;
    for i in 0..=sorted.len() {
        let next = sorted.get(i).copied();
        if let Some(p) = next
            && active.iter().any(|a| covers(a, p, last))
        {
            continue;
        }
        let hi = next.map_or(upper[last], |p| p[last]);
        if hi > lo {
            let mut continued = BTreeMap::new();
            for b in slice(&active, &upper[..last], limit)? {
                let k = key(&b);
                let start = open.remove(&k).map_or(lo, |(_, start)| start);
                continued.insert(k, (b, start));
            }
            for (_, (mut b, start)) in std::mem::replace(&mut open, continued) {
                b.push((start, lo));
                done.push(b);
            }
            if done.len() + open.len() > limit {
                return None;
            }
        }
        if let Some(p) = next {
            active.retain(|a| !covers(p, a, last));
            active.push(p);
            lo = hi;
        }
    }
    for (_, (mut b, start)) in open {
        b.push((start, upper[last]));
        done.push(b);
    }
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The volume of the boxes with their lower edges raised to `floor`.
    fn volume(boxes: &[Box], floor: f64) -> f64 {
        boxes
            .iter()
            .map(|b| {
                b.iter()
                    .map(|&(lo, hi)| (hi - lo.max(floor)).max(0.0))
                    .product::<f64>()
            })
            .sum()
    }

    /// Whether `z` lies in the box (lower edge open, upper edge open).
    fn inside(b: &Box, z: &[f64]) -> bool {
        b.iter().zip(z).all(|(&(lo, hi), &v)| lo <= v && v < hi)
    }

    #[test]
    fn two_objectives_give_the_staircase_under_the_front() {
        let front = [
            vec![2.0, 1.0],
            vec![1.0, 2.0],
            vec![1.5, 2.5],
            vec![0.5, 9.0],
        ];
        let boxes = nondominated_boxes(&front, &[3.0, 3.0], 3).expect("three boxes");
        assert_eq!(nondominated_boxes(&front, &[3.0, 3.0], 2), None);
        let inf = f64::NEG_INFINITY;
        assert_eq!(
            boxes,
            vec![
                vec![(inf, 3.0), (inf, 1.0)],
                vec![(inf, 2.0), (1.0, 2.0)],
                vec![(inf, 1.0), (2.0, 3.0)],
            ]
        );
    }

    #[test]
    fn every_grid_point_is_in_one_box_exactly_when_no_front_point_dominates_it() {
        // Coordinates on a grid of quarter steps, so ties and shared edges occur.
        let front: Vec<Vec<f64>> = (1..10)
            .map(|k| {
                vec![
                    f64::from((k * 5) % 8) / 4.0,
                    f64::from((k * 3) % 7) / 4.0,
                    f64::from((k * 7) % 9) / 4.0,
                ]
            })
            .chain([
                vec![0.5, 0.5, 0.5],
                vec![0.5, 0.5, 0.5],
                vec![9.0, 0.0, 0.0],
            ])
            .collect();
        let reference = [2.0, 1.75, 2.25];
        let boxes = nondominated_boxes(&front, &reference, usize::MAX).expect("no limit");
        let mut free = 0;
        for a in 0..20 {
            for b in 0..20 {
                for c in 0..20 {
                    let z = [
                        -0.3 + f64::from(a) * 0.125,
                        -0.3 + f64::from(b) * 0.125,
                        -0.3 + f64::from(c) * 0.125,
                    ];
                    let below = z.iter().zip(&reference).all(|(v, r)| v < r);
                    let dominated = front.iter().any(|p| p.iter().zip(&z).all(|(x, y)| x <= y));
                    let hits = boxes.iter().filter(|b| inside(b, &z)).count();
                    assert_eq!(hits, usize::from(below && !dominated), "{z:?}");
                    free += hits;
                }
            }
        }
        assert!(free > 100 && boxes.len() > 10, "{free} {}", boxes.len());
    }

    #[test]
    fn the_boxes_volume_is_the_reference_box_less_the_hypervolume() {
        // Two points in three objectives: inclusion–exclusion by hand.
        let front = vec![vec![0.0, 0.5, 0.2], vec![0.4, 0.1, 0.3]];
        let reference = [1.0, 1.0, 1.0];
        let first = 1.0 * 0.5 * 0.8;
        let second = 0.6 * 0.9 * 0.7;
        let both = 0.6 * 0.5 * 0.7;
        let dominated = first + second - both;
        let free = volume(
            &nondominated_boxes(&front, &reference, 9).expect("few boxes"),
            0.0,
        );
        assert!((free - (1.0 - dominated)).abs() < 1e-12, "{free}");
        // No front: one box, the whole reference box.
        assert_eq!(
            nondominated_boxes(&[], &reference, 1).map(|b| b.len()),
            Some(1)
        );
    }

    #[test]
    fn three_objectives_give_two_boxes_per_front_member_and_one() {
        for k in [10usize, 60, 240] {
            let front: Vec<Vec<f64>> = (0..k)
                .map(|i| {
                    let a = (i as f64 * 0.618_034).fract() * std::f64::consts::FRAC_PI_2;
                    let b = (i as f64 * 0.754_878).fract() * std::f64::consts::FRAC_PI_2;
                    vec![a.cos() * b.cos(), a.cos() * b.sin(), a.sin()]
                })
                .collect();
            let boxes = nondominated_boxes(&front, &[1.1, 1.1, 1.1], usize::MAX).expect("no limit");
            assert_eq!(boxes.len(), 2 * k + 1, "{k} members");
            assert_eq!(nondominated_boxes(&front, &[1.1, 1.1, 1.1], 2 * k), None);
        }
    }
}
