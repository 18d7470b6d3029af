//! Hypervolume in two dimensions (exact, by a sweep), in any number (exact, by slicing
//! along the last objective down to the two-dimensional sweep), and the greedy hypervolume
//! subset selection MOTPE uses to break ties inside a front. Points are losses (smaller is
//! better); a point that does not dominate the reference point adds nothing.

/// The area dominated by `points` and bounded by `reference`, both objectives minimized.
/// Exact, O(n log n).
pub fn hypervolume_2d(points: &[[f64; 2]], reference: [f64; 2]) -> f64 {
    let mut inside: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    inside.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut area = 0.0;
    let mut ceiling = reference[1];
    for p in inside {
        if p[1] < ceiling {
            area += (reference[0] - p[0]) * (ceiling - p[1]);
            ceiling = p[1];
        }
    }
    area
}

/// The volume dominated by `points` and bounded by `reference`, every objective minimized,
/// in as many dimensions as `reference` has. Only points strictly better than the reference
/// in every objective count. Exact: the volume is cut into slabs between consecutive values
/// of the last objective, each the (m − 1)-dimensional hypervolume of the points at or
/// below it times its thickness, down to [`hypervolume_2d`] (which two objectives use
/// directly, so the two agree exactly). O(n² log n) in three dimensions, O(n^(m−1) log n)
/// in m.
///
/// # Panics
/// If a point has not as many objectives as `reference`.
pub fn hypervolume<P: AsRef<[f64]>>(points: &[P], reference: &[f64]) -> f64 {
    let m = reference.len();
    let mut inside: Vec<&[f64]> = Vec::with_capacity(points.len());
    for p in points {
        let p = p.as_ref();
        assert_eq!(
            p.len(),
            m,
            "a point with {} objectives against a reference with {m}",
            p.len()
        );
        if p.iter().zip(reference).all(|(v, r)| v < r) {
            inside.push(p);
        }
    }
    dominated_volume(&mut inside, reference)
}

/// [`hypervolume`] of `points`, each strictly better than `reference` in every objective
/// of `reference` (a point may have more: they are ignored). Reorders `points`.
fn dominated_volume(points: &mut [&[f64]], reference: &[f64]) -> f64 {
    let m = reference.len();
    match m {
        0 => 0.0,
        1 => points
            .iter()
            .map(|p| reference[0] - p[0])
            .fold(0.0, f64::max),
        2 => {
            let flat: Vec<[f64; 2]> = points.iter().map(|p| [p[0], p[1]]).collect();
            hypervolume_2d(&flat, [reference[0], reference[1]])
        }
        _ => {
            let last = m - 1;
            points.sort_by(|a, b| a[last].total_cmp(&b[last]));
            let mut below: Vec<&[f64]> = Vec::with_capacity(points.len());
            let mut volume = 0.0;
            for (i, p) in points.iter().enumerate() {
                below.push(p);
                let top = points.get(i + 1).map_or(reference[last], |q| q[last]);
                let thickness = top - p[last];
                if thickness > 0.0 {
                    volume += dominated_volume(&mut below, &reference[..last]) * thickness;
                }
            }
            volume
        }
    }
}

/// The order in which greedy hypervolume subset selection picks `points`: each step takes
/// the point adding the most area to those picked so far (ties to the lower index), so
/// the first k of the order are the greedy choice of k. O(n³) in the worst case: meant
/// for one front.
pub fn greedy_order_2d(points: &[[f64; 2]], reference: [f64; 2]) -> Vec<usize> {
    let mut picked: Vec<[f64; 2]> = Vec::with_capacity(points.len());
    let mut order = Vec::with_capacity(points.len());
    let mut left: Vec<usize> = (0..points.len()).collect();
    let mut current = 0.0;
    while !left.is_empty() {
        let mut best = (0, f64::NEG_INFINITY, 0.0);
        for (k, &i) in left.iter().enumerate() {
            picked.push(points[i]);
            let area = hypervolume_2d(&picked, reference);
            picked.pop();
            if area - current > best.1 {
                best = (k, area - current, area);
            }
        }
        let i = left.remove(best.0);
        picked.push(points[i]);
        order.push(i);
        current = best.2;
    }
    order
}

/// A reference point a little beyond the worst of `points` in each objective (MOTPE's
/// choice: the worst value plus a tenth of its magnitude, away from zero; 1 where the worst
/// is not finite), so that every point of a front contributes.
///
/// # Panics
/// If `points` is empty.
pub fn reference_beyond<P: AsRef<[f64]>>(points: &[P]) -> Vec<f64> {
    let mut worst = vec![f64::NEG_INFINITY; points[0].as_ref().len()];
    for p in points {
        for (w, &v) in worst.iter_mut().zip(p.as_ref()) {
            *w = w.max(v);
        }
    }
    worst
        .into_iter()
        .map(|w| {
            if !w.is_finite() {
                1.0
            } else if w == 0.0 {
                1e-12
            } else {
                w + 0.1 * w.abs()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_area_of_a_staircase_is_the_sum_of_its_steps() {
        let points = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        // Reference (4, 4): 3·1 + 2·1 + 1·1 = 6.
        assert!((hypervolume_2d(&points, [4.0, 4.0]) - 6.0).abs() < 1e-12);
    }

    #[test]
    fn dominated_and_outside_points_add_nothing() {
        let base = hypervolume_2d(&[[1.0, 1.0]], [2.0, 2.0]);
        let more = hypervolume_2d(
            &[[1.0, 1.0], [1.5, 1.5], [3.0, 0.0], [1.0, 1.0]],
            [2.0, 2.0],
        );
        assert_eq!(base, 1.0);
        assert_eq!(more, base);
    }

    #[test]
    fn the_hypervolume_agrees_with_a_grid_count() {
        let points: Vec<[f64; 2]> = (0..25)
            .map(|k| {
                let k = f64::from(k);
                [(k * 0.618_034).fract(), (k * 0.414_214 + 0.3).fract()]
            })
            .collect();
        let n = 800;
        let mut covered = 0usize;
        for i in 0..n {
            for j in 0..n {
                let (x, y) = ((i as f64 + 0.5) / n as f64, (j as f64 + 0.5) / n as f64);
                if points.iter().any(|p| p[0] <= x && p[1] <= y) {
                    covered += 1;
                }
            }
        }
        let grid = covered as f64 / (n * n) as f64;
        assert!((hypervolume_2d(&points, [1.0, 1.0]) - grid).abs() < 5e-3);
    }

    /// The union of the boxes `points` dominate, by inclusion and exclusion over every
    /// subset (the intersection of boxes is the box of their componentwise maximum).
    fn inclusion_exclusion(points: &[Vec<f64>], reference: &[f64]) -> f64 {
        let n = points.len();
        let mut total = 0.0;
        for subset in 1u32..(1 << n) {
            let mut corner = vec![f64::NEG_INFINITY; reference.len()];
            for (i, p) in points.iter().enumerate() {
                if subset & (1 << i) != 0 {
                    for (c, &v) in corner.iter_mut().zip(p) {
                        *c = c.max(v);
                    }
                }
            }
            let volume: f64 = corner
                .iter()
                .zip(reference)
                .map(|(c, r)| (r - c).max(0.0))
                .product();
            let sign = if subset.count_ones() % 2 == 1 {
                1.0
            } else {
                -1.0
            };
            total += sign * volume;
        }
        total
    }

    fn walk(n: usize, m: usize) -> Vec<Vec<f64>> {
        (0..n)
            .map(|k| {
                (0..m)
                    .map(|j| {
                        let step = 0.618_034 + 0.414_214 * j as f64 + 0.1 * (j * j) as f64;
                        ((k + 1) as f64 * step + 0.17 * j as f64).fract()
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_general_hypervolume_is_the_sweep_in_two_dimensions() {
        let points = walk(25, 2);
        let pairs: Vec<[f64; 2]> = points.iter().map(|p| [p[0], p[1]]).collect();
        for reference in [[1.0, 1.0], [0.8, 1.3], [0.3, 0.4]] {
            assert_eq!(
                hypervolume(&points, &reference),
                hypervolume_2d(&pairs, reference)
            );
        }
        let staircase = [[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]];
        assert!((hypervolume(&staircase, &[4.0, 4.0]) - 6.0).abs() < 1e-12);
    }

    #[test]
    fn one_point_in_three_dimensions_is_its_box() {
        let v = hypervolume(&[[0.2, 0.5, 0.1]], &[1.0, 1.0, 1.0]);
        assert!((v - 0.8 * 0.5 * 0.9).abs() < 1e-15, "{v}");
        assert_eq!(hypervolume::<[f64; 3]>(&[], &[1.0, 1.0, 1.0]), 0.0);
        assert_eq!(hypervolume(&[[2.0]], &[5.0]), 3.0);
    }

    #[test]
    fn three_points_in_three_dimensions_by_hand() {
        // Boxes to (4, 4, 4): a 3·2·1 = 6, b 2·3·3 = 18, c 1·1·4 = 4; pairwise overlaps
        // a∩b from (2, 2, 3): 4, a∩c from (3, 3, 3): 1, b∩c from (3, 3, 1): 3; all three
        // from (3, 3, 3): 1. The union: 6 + 18 + 4 − 4 − 1 − 3 + 1 = 21.
        let points = [[1.0, 2.0, 3.0], [2.0, 1.0, 1.0], [3.0, 3.0, 0.0]];
        assert!((hypervolume(&points, &[4.0, 4.0, 4.0]) - 21.0).abs() < 1e-12);
        // The integer grid agrees: the unit cells whose centre some point dominates.
        let cells = (0..4)
            .flat_map(|i| (0..4).flat_map(move |j| (0..4).map(move |k| [i, j, k])))
            .filter(|c| {
                points
                    .iter()
                    .any(|p| p.iter().zip(c).all(|(v, &c)| *v <= f64::from(c) + 0.5))
            })
            .count();
        assert_eq!(cells, 21);
    }

    #[test]
    fn the_hypervolume_agrees_with_inclusion_and_exclusion() {
        for (n, m) in [(6, 3), (10, 3), (7, 4), (5, 5)] {
            let points = walk(n, m);
            let reference = vec![1.0; m];
            let exact = inclusion_exclusion(&points, &reference);
            let v = hypervolume(&points, &reference);
            assert!(
                (v - exact).abs() < 1e-10,
                "{n} points in {m}-D: {v} vs {exact}"
            );
            assert!(v > 0.0);
        }
    }

    #[test]
    fn dominated_duplicate_and_outside_points_add_nothing_in_three_dimensions() {
        let reference = [2.0, 2.0, 2.0];
        let front = vec![vec![1.0, 1.0, 0.5], vec![0.5, 1.5, 1.0]];
        let base = hypervolume(&front, &reference);
        let mut more = front.clone();
        more.extend([
            vec![1.0, 1.0, 0.5],
            vec![1.5, 1.5, 1.5],
            vec![1.0, 1.5, 1.0],
            vec![0.0, 0.0, 2.0],
            vec![0.0, 3.0, 0.0],
            vec![f64::NAN, 0.0, 0.0],
        ]);
        assert!((hypervolume(&more, &reference) - base).abs() < 1e-12);
        assert!((base - inclusion_exclusion(&front, &reference)).abs() < 1e-12);
    }

    #[test]
    fn the_reference_lies_a_tenth_beyond_the_worst_value_of_each_objective() {
        let points = [
            vec![2.0, -4.0, 0.0, f64::NEG_INFINITY],
            vec![-1.0, -10.0, 0.0, f64::NEG_INFINITY],
        ];
        assert_eq!(reference_beyond(&points), vec![2.2, -3.6, 1e-12, 1.0]);
        assert_eq!(reference_beyond(&[[3.0, f64::INFINITY]]), vec![3.3, 1.0]);
    }

    #[test]
    fn greedy_selection_takes_the_largest_contribution_first() {
        let points = [[0.0, 3.0], [1.0, 1.0], [3.0, 0.0]];
        let order = greedy_order_2d(&points, [4.0, 4.0]);
        assert_eq!(order[0], 1, "the knee covers 9 of 16");
    }
}
