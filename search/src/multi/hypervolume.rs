//! Hypervolume in two dimensions (exact, by a sweep) and the greedy hypervolume subset
//! selection MOTPE uses to break ties inside a front. Points are losses (smaller is
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
/// choice: the worst value times 1.1, away from zero), so that every point of a front
/// contributes.
pub fn reference_beyond(points: &[[f64; 2]]) -> [f64; 2] {
    let mut worst = [f64::NEG_INFINITY; 2];
    for p in points {
        for (w, &v) in worst.iter_mut().zip(p) {
            *w = w.max(v);
        }
    }
    worst.map(|w| {
        if !w.is_finite() {
            1.0
        } else if w == 0.0 {
            1e-12
        } else {
            w + 0.1 * w.abs()
        }
    })
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

    #[test]
    fn greedy_selection_takes_the_largest_contribution_first() {
        let points = [[0.0, 3.0], [1.0, 1.0], [3.0, 0.0]];
        let order = greedy_order_2d(&points, [4.0, 4.0]);
        assert_eq!(order[0], 1, "the knee covers 9 of 16");
    }
}
