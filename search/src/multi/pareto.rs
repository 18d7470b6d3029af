//! Dominance and ranking over losses (every objective turned into "smaller is better" by
//! its direction): non-dominated sorting (Deb et al. 2002), crowding distance, and
//! Deb's constrained domination (a feasible point beats an infeasible one; of two
//! infeasible points, the smaller total violation wins).

use std::cmp::Ordering;

use crate::trial::Direction;

/// `values` as losses: each negated where its direction maximizes.
pub fn losses(values: &[f64], directions: &[Direction]) -> Vec<f64> {
    values
        .iter()
        .zip(directions)
        .map(|(&v, d)| d.as_loss(v))
        .collect()
}

/// Whether loss vector `a` dominates `b`: no worse in every objective, better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    let mut better = false;
    for (x, y) in a.iter().zip(b) {
        if x > y {
            return false;
        }
        better |= x < y;
    }
    better
}

/// Each point's non-domination rank: 0 for the Pareto front, 1 for the front of what is
/// left, and so on. O(m·n²), with n the points and m the objectives.
pub fn non_dominated_ranks(points: &[Vec<f64>]) -> Vec<usize> {
    let n = points.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in i + 1..n {
            if dominates(&points[i], &points[j]) {
                dominates_list[i].push(j);
                dominated_by[j] += 1;
            } else if dominates(&points[j], &points[i]) {
                dominates_list[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut rank = vec![0usize; n];
    let mut front: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    let mut level = 0;
    while !front.is_empty() {
        let mut next = Vec::new();
        for &i in &front {
            rank[i] = level;
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        front = next;
        level += 1;
    }
    rank
}

/// Whether each point is on the Pareto front (no other point dominates it): the front
/// alone, in O(n log n + m·n·f) with f the front's size, where [`non_dominated_ranks`]
/// costs O(m·n²). A point can only be dominated by one before it in lexicographic order,
/// and, dominance being transitive, by one of the front among those: so each point is
/// checked against the front found so far.
pub fn on_front(points: &[Vec<f64>]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .iter()
            .zip(&points[b])
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    let mut front: Vec<usize> = Vec::new();
    let mut mask = vec![false; points.len()];
    for i in order {
        if !front.iter().any(|&f| dominates(&points[f], &points[i])) {
            front.push(i);
            mask[i] = true;
        }
    }
    mask
}

/// Ranks under constrained domination: the feasible points (total violation 0) by
/// [`non_dominated_ranks`], then the infeasible ones, one rank per distinct violation,
/// smallest first.
pub fn constrained_ranks(points: &[Vec<f64>], violations: &[f64]) -> Vec<usize> {
    let feasible: Vec<usize> = (0..points.len())
        .filter(|&i| violations[i] <= 0.0)
        .collect();
    let subset: Vec<Vec<f64>> = feasible.iter().map(|&i| points[i].clone()).collect();
    let mut rank = vec![0usize; points.len()];
    let feasible_ranks = non_dominated_ranks(&subset);
    for (&i, &r) in feasible.iter().zip(&feasible_ranks) {
        rank[i] = r;
    }
    let mut next = feasible_ranks.iter().max().map_or(0, |r| r + 1);
    let mut infeasible: Vec<usize> = (0..points.len()).filter(|&i| violations[i] > 0.0).collect();
    infeasible.sort_by(|&a, &b| violations[a].total_cmp(&violations[b]).then(a.cmp(&b)));
    for (k, &i) in infeasible.iter().enumerate() {
        if k > 0 && violations[i] > violations[infeasible[k - 1]] {
            next += 1;
        }
        rank[i] = next;
    }
    rank
}

/// The crowding distance of each point of one front (NSGA-II): the sum over objectives of
/// the normalized gap between its two neighbours; the extremes get infinity.
pub fn crowding_distances(front: &[&[f64]]) -> Vec<f64> {
    let n = front.len();
    let mut distance = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let objectives = front[0].len();
    let mut order: Vec<usize> = (0..n).collect();
    // `m` indexes every point's objectives, not one slice.
    #[allow(clippy::needless_range_loop)]
    for m in 0..objectives {
        order.sort_by(|&a, &b| front[a][m].total_cmp(&front[b][m]).then(a.cmp(&b)));
        let (low, high) = (front[order[0]][m], front[order[n - 1]][m]);
        distance[order[0]] = f64::INFINITY;
        distance[order[n - 1]] = f64::INFINITY;
        let span = high - low;
        if span <= 0.0 || !span.is_finite() {
            continue;
        }
        for k in 1..n - 1 {
            distance[order[k]] += (front[order[k + 1]][m] - front[order[k - 1]][m]) / span;
        }
    }
    distance
}

/// The indices of `points` best first: by constrained rank, then (within a rank) larger
/// crowding distance, then index. What `hypersearch best --top K` and evolution's
/// tournament use.
pub fn rank_order(points: &[Vec<f64>], violations: &[f64]) -> Vec<usize> {
    let rank = constrained_ranks(points, violations);
    let mut crowding = vec![0.0; points.len()];
    let levels = rank.iter().max().map_or(0, |r| r + 1);
    for level in 0..levels {
        let members: Vec<usize> = (0..points.len()).filter(|&i| rank[i] == level).collect();
        let front: Vec<&[f64]> = members.iter().map(|&i| points[i].as_slice()).collect();
        for (&i, d) in members.iter().zip(crowding_distances(&front)) {
            crowding[i] = d;
        }
    }
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        rank[a]
            .cmp(&rank[b])
            .then_with(|| {
                crowding[b]
                    .partial_cmp(&crowding[a])
                    .unwrap_or(Ordering::Equal)
            })
            .then(a.cmp(&b))
    });
    order
}

/// The first `k` of [`rank_order`] for feasible `points` (no violations), peeling fronts with
/// [`on_front`] until `k` are had: O(r·(n log n + m·n·f)) for the r fronts it takes, where
/// sorting every front costs O(m·n²). What `hypersearch best --top K` uses.
pub fn top_order(points: &[Vec<f64>], k: usize) -> Vec<usize> {
    let mut left: Vec<usize> = (0..points.len()).collect();
    let mut chosen = Vec::with_capacity(k.min(points.len()));
    while chosen.len() < k && !left.is_empty() {
        let rest: Vec<Vec<f64>> = left.iter().map(|&i| points[i].clone()).collect();
        let mask = on_front(&rest);
        let mut front: Vec<usize> = Vec::new();
        let mut behind: Vec<usize> = Vec::new();
        for (&i, &on) in left.iter().zip(&mask) {
            if on {
                front.push(i);
            } else {
                behind.push(i);
            }
        }
        let front_slices: Vec<&[f64]> = front.iter().map(|&i| points[i].as_slice()).collect();
        let crowding = crowding_distances(&front_slices);
        let mut place: Vec<usize> = (0..front.len()).collect();
        place.sort_by(|&a, &b| {
            crowding[b]
                .partial_cmp(&crowding[a])
                .unwrap_or(Ordering::Equal)
                .then(front[a].cmp(&front[b]))
        });
        front = place.into_iter().map(|p| front[p]).collect();
        chosen.extend(front.into_iter().take(k - chosen.len()));
        left = behind;
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[[f64; 2]]) -> Vec<Vec<f64>> {
        v.iter().map(|p| p.to_vec()).collect()
    }

    #[test]
    fn dominance_needs_one_strict_improvement() {
        assert!(dominates(&[1.0, 2.0], &[1.0, 3.0]));
        assert!(!dominates(&[1.0, 2.0], &[1.0, 2.0]));
        assert!(!dominates(&[1.0, 4.0], &[2.0, 3.0]));
    }

    #[test]
    fn non_dominated_sorting_peels_fronts_in_order() {
        let p = pts(&[
            [1.0, 4.0],
            [2.0, 2.0],
            [4.0, 1.0],
            [3.0, 3.0],
            [5.0, 5.0],
            [2.0, 2.0],
        ]);
        assert_eq!(non_dominated_ranks(&p), [0, 0, 0, 1, 2, 0]);
    }

    #[test]
    fn sorting_agrees_with_a_brute_force_definition_of_the_front() {
        // A fixed pseudo-random cloud: rank 0 must be exactly the points nobody dominates.
        let p: Vec<Vec<f64>> = (0..60)
            .map(|k| {
                let k = f64::from(k);
                vec![(k * 0.618_034).fract(), (k * 0.414_214 + 0.3).fract()]
            })
            .collect();
        let ranks = non_dominated_ranks(&p);
        for (i, a) in p.iter().enumerate() {
            let dominated = p.iter().any(|b| dominates(b, a));
            assert_eq!(ranks[i] == 0, !dominated, "point {i}");
        }
        // The front alone, in three objectives too, with ties.
        let mut three: Vec<Vec<f64>> = (0..200)
            .map(|k| {
                let k = f64::from(k);
                vec![
                    ((k * 0.618_034).fract() * 8.0).round(),
                    ((k * 0.414_214 + 0.3).fract() * 8.0).round(),
                    ((k * 0.732_051 + 0.1).fract() * 8.0).round(),
                ]
            })
            .collect();
        three.push(three[7].clone());
        for cloud in [&p, &three] {
            let ranks = non_dominated_ranks(cloud);
            let front: Vec<bool> = ranks.iter().map(|&r| r == 0).collect();
            assert_eq!(on_front(cloud), front);
            // Peeling fronts gives rank_order's head, whatever its length.
            let order = rank_order(cloud, &vec![0.0; cloud.len()]);
            for k in [0, 1, 5, 17, 60, cloud.len(), cloud.len() + 3] {
                assert_eq!(top_order(cloud, k), order[..k.min(order.len())], "k = {k}");
            }
        }
    }

    #[test]
    fn infeasible_points_rank_after_feasible_ones_by_violation() {
        let p = pts(&[[5.0, 5.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]);
        let ranks = constrained_ranks(&p, &[0.0, 2.0, 0.5, 2.0]);
        assert_eq!(ranks, [0, 2, 1, 2]);
    }

    #[test]
    fn crowding_gives_the_extremes_infinity_and_sums_normalized_gaps() {
        let p = pts(&[[0.0, 4.0], [1.0, 3.0], [3.0, 1.0], [4.0, 0.0]]);
        let front: Vec<&[f64]> = p.iter().map(Vec::as_slice).collect();
        let d = crowding_distances(&front);
        assert_eq!(d[0], f64::INFINITY);
        assert_eq!(d[3], f64::INFINITY);
        assert!((d[1] - (3.0 / 4.0 + 3.0 / 4.0)).abs() < 1e-12, "{d:?}");
        assert!((d[2] - d[1]).abs() < 1e-12);
    }

    #[test]
    fn rank_order_puts_the_front_first_and_spreads_within_it() {
        let p = pts(&[[3.0, 3.0], [0.0, 4.0], [1.9, 2.1], [2.0, 2.0], [4.0, 0.0]]);
        let order = rank_order(&p, &[0.0; 5]);
        assert_eq!(&order[..2], [1, 4], "extremes first");
        assert_eq!(*order.last().unwrap(), 0, "the dominated point last");
    }
}
