//! The engine's unit tests and property tests.

use super::*;
use proptest::prelude::*;

fn quadratic(x: &[f64]) -> f64 {
    x.iter()
        .enumerate()
        .map(|(j, v)| (v - 0.2 - 0.1 * j as f64).powi(2))
        .sum()
}

/// Runs `trials` sequential suggestions on `f`; returns points and values.
fn run(engine: &mut Engine, trials: usize, f: impl Fn(&[f64]) -> f64) -> (Vec<f64>, Vec<f64>) {
    let (mut points, mut values) = (Vec::new(), Vec::new());
    for t in 0..trials {
        let history = History {
            points: &points,
            values: &values,
            pending: &[],
        };
        let x = engine
            .suggest(&history, 1, t as u64)
            .expect("valid history")
            .remove(0);
        values.push(f(&x));
        points.extend(x);
    }
    (points, values)
}

#[test]
fn finds_a_smooth_minimum() {
    let mut engine = Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
    let (_, values) = run(&mut engine, 25, quadratic);
    let best = values.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(best < 1e-3, "best {best}");
}

#[test]
fn eight_pending_points_give_eight_distinct_points() {
    let mut engine = Engine::new(vec![Column::Continuous; 3], Settings::default()).expect("valid");
    let (points, values) = run(&mut engine, 12, quadratic);
    let batch = engine
        .suggest(
            &History {
                points: &points,
                values: &values,
                pending: &[],
            },
            8,
            99,
        )
        .expect("valid");
    assert_eq!(batch.len(), 8);
    for a in 0..8 {
        for b in a + 1..8 {
            let dist: f64 = batch[a]
                .iter()
                .zip(&batch[b])
                .map(|(x, y)| (x - y).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(dist > 1e-3, "points {a} and {b} coincide: {:?}", batch[a]);
        }
    }
    // The same batch, made one at a time with the earlier ones pending.
    let mut pending = Vec::new();
    for t in 0..8u64 {
        let next = engine
            .suggest(
                &History {
                    points: &points,
                    values: &values,
                    pending: &pending,
                },
                1,
                200 + t,
            )
            .expect("valid")
            .remove(0);
        assert!(!pending.chunks(3).any(|p: &[f64]| p == next.as_slice()));
        pending.extend(next);
    }
}

#[test]
fn pending_points_count_towards_the_design_once_half_of_it_is_observed() {
    let settings = Settings {
        initial_design: Some(10),
        ..Settings::default()
    };
    let engine = Engine::new(vec![Column::Continuous; 2], settings.clone()).expect("valid");
    assert!(engine.model_takes_over(10, 0));
    assert!(engine.model_takes_over(5, 5));
    assert!(!engine.model_takes_over(4, 7));
    assert!(!engine.model_takes_over(9, 0));
    let strict = Engine::new(
        vec![Column::Continuous; 2],
        Settings {
            design_counts_pending: false,
            ..settings
        },
    )
    .expect("valid");
    assert!(!strict.model_takes_over(5, 5));
    assert!(strict.model_takes_over(10, 0));
}

#[test]
fn an_exploiting_suggestion_lands_at_the_fitted_minimum() {
    let settings = Settings {
        exploit_every: 1,
        ..Settings::default()
    };
    let mut engine = Engine::new(vec![Column::Continuous; 2], settings).expect("valid");
    let (mut points, mut values) = (Vec::new(), Vec::new());
    for i in 0..16u32 {
        let mut p = vec![0.0; 2];
        Sobol::new(2, 1).point(i, &mut p);
        values.push(quadratic(&p));
        points.extend(p);
    }
    let history = History {
        points: &points,
        values: &values,
        pending: &[],
    };
    let x = engine.suggest(&history, 1, 3).expect("valid").remove(0);
    let best = values.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(quadratic(&x) < best, "{x:?}: {} vs {best}", quadratic(&x));
}

#[test]
fn same_seed_and_history_give_the_same_point_from_a_fresh_engine() {
    let mut first = Engine::new(
        vec![Column::Continuous, Column::Categorical(3)],
        Settings::default(),
    )
    .expect("valid");
    let (points, values) = run(&mut first, 10, |x| quadratic(&x[..1]) + x[1]);
    let history = History {
        points: &points,
        values: &values,
        pending: &points[..2],
    };
    let mut a = Engine::new(
        vec![Column::Continuous, Column::Categorical(3)],
        Settings::default(),
    )
    .expect("valid");
    let mut b = a.clone();
    assert_eq!(a.suggest(&history, 2, 5), b.suggest(&history, 2, 5));
}

#[test]
fn small_discrete_spaces_are_not_repeated_until_exhausted() {
    let cols = vec![Column::Categorical(2), Column::Grid(vec![0.25, 0.75])];
    let mut engine = Engine::new(
        cols,
        Settings {
            initial_design: Some(2),
            ..Settings::default()
        },
    )
    .expect("valid");
    let (points, _) = run(&mut engine, 4, |x| x[0] + x[1]);
    let mut rows: Vec<&[f64]> = points.chunks(2).collect();
    rows.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    rows.dedup();
    assert_eq!(rows.len(), 4, "{points:?}");
}

#[test]
fn failed_and_infinite_values_are_tolerated() {
    let mut engine = Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
    let (points, mut values) = run(&mut engine, 8, quadratic);
    values[1] = f64::NAN;
    values[2] = f64::INFINITY;
    values[3] = f64::NEG_INFINITY;
    let x = engine
        .suggest(
            &History {
                points: &points,
                values: &values,
                pending: &[],
            },
            1,
            1,
        )
        .expect("valid");
    assert!(x[0].iter().all(|v| (0.0..=1.0).contains(v)));
}

#[test]
fn a_large_history_is_modelled_on_the_best_and_an_even_spread() {
    let n = 10 * GLOBAL_POINTS;
    let rows: Vec<Vec<f64>> = (0..n).map(|i| vec![i as f64 / n as f64]).collect();
    // The best values sit at the end of the history.
    let values: Vec<f64> = (0..n).map(|i| (n - i) as f64).collect();
    let (sub_rows, sub_values) = global_subset(&rows, &values);
    assert_eq!(
        (sub_rows.len(), sub_values.len()),
        (GLOBAL_POINTS, GLOBAL_POINTS)
    );
    assert_eq!(sub_values.last(), Some(&1.0), "the best is kept");
    let best = GLOBAL_POINTS / 4;
    assert!(
        sub_values[GLOBAL_POINTS - best..]
            .iter()
            .all(|&v| v <= best as f64)
    );
    // The rest spans the history from its start.
    assert_eq!(sub_rows[0], vec![0.0]);
    assert!(sub_rows[GLOBAL_POINTS - best - 1][0] > 0.5);
    let small = global_subset(&rows[..10], &values[..10]);
    assert_eq!(small.1, values[..10].to_vec());
}

#[test]
fn bad_input_is_named() {
    let mut engine = Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
    let err = |points: &[f64], values: &[f64], pending: &[f64]| {
        engine
            .clone()
            .suggest(
                &History {
                    points,
                    values,
                    pending,
                },
                1,
                0,
            )
            .expect_err("invalid")
    };
    assert_eq!(
        err(&[0.5, 0.5, 0.5], &[1.0], &[]),
        Error::Shape {
            what: "observed points",
            len: 3,
            dims: 2
        }
    );
    assert_eq!(
        err(&[0.5, 0.5], &[1.0, 2.0], &[]),
        Error::ValueCount {
            points: 1,
            values: 2
        }
    );
    assert_eq!(
        err(&[], &[], &[0.5, 1.5]),
        Error::OutsideCube {
            what: "pending points",
            row: 0,
            column: 1,
            value: 1.5
        }
    );
    assert!(matches!(
        err(&[f64::NAN, 0.5], &[1.0], &[]),
        Error::OutsideCube { column: 0, .. }
    ));
    assert_eq!(
        engine.suggest(
            &History {
                points: &[],
                values: &[],
                pending: &[]
            },
            0,
            0
        ),
        Err(Error::ZeroCount)
    );
}

fn column_strategy() -> impl Strategy<Value = Column> {
    prop_oneof![
        Just(Column::Continuous),
        (1usize..5).prop_map(Column::Categorical),
        (1usize..30)
            .prop_map(|n| Column::Grid((0..n).map(|i| (i as f64 + 0.5) / n as f64).collect())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_suggestion_lies_on_its_columns(
        columns in proptest::collection::vec(column_strategy(), 1..5),
        observations in 0usize..12,
        seed in any::<u64>(),
    ) {
        let settings = Settings { initial_design: Some(4), ..Settings::default() };
        let mut engine = Engine::new(columns.clone(), settings).expect("valid");
        let cols = engine.columns().clone();
        let (points, values) = run(&mut engine, observations, |x| x.iter().map(|v| (v * 7.0).sin()).sum());
        let batch = engine.suggest(&History { points: &points, values: &values, pending: &[] }, 3, seed).expect("valid");
        for x in batch.iter().chain(points.chunks(columns.len()).map(|r| r.to_vec()).collect::<Vec<_>>().iter()) {
            let mut snapped = x.clone();
            cols.snap(&mut snapped);
            prop_assert_eq!(&snapped, x);
            prop_assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}

/// Branin on the unit cube (its benchmark box), 20 scrambled-Sobol observations.
fn branin_history() -> (Vec<f64>, Vec<f64>) {
    let branin = hypersearch_testfns::find("branin").expect("known");
    let (mut points, mut values) = (Vec::new(), Vec::new());
    for i in 0..20u32 {
        let mut p = vec![0.0; 2];
        Sobol::new(2, 1).point(i, &mut p);
        let x = [-5.0 + 15.0 * p[0], 15.0 * p[1]];
        values.push(branin.evaluate(&x).expect("2-D"));
        points.extend(p);
    }
    (points, values)
}

/// The smallest distance between two points of `batch` (unit-cube units).
fn min_pairwise_distance(batch: &[Vec<f64>]) -> f64 {
    let mut min = f64::INFINITY;
    for (a, p) in batch.iter().enumerate() {
        for q in &batch[a + 1..] {
            let d = p.iter().zip(q).map(|(x, y)| (x - y).powi(2)).sum::<f64>();
            min = min.min(d.sqrt());
        }
    }
    min
}

#[test]
fn a_batch_of_eight_is_spread_out_and_a_function_of_the_seed() {
    let (points, values) = branin_history();
    let history = History {
        points: &points,
        values: &values,
        pending: &[],
    };
    let suggest = |settings: Settings| {
        Engine::new(vec![Column::Continuous; 2], settings)
            .expect("valid")
            .suggest(&history, 8, 11)
            .expect("valid")
    };
    let batch = suggest(Settings::default());
    assert_eq!(batch, suggest(Settings::default()));
    let spread = min_pairwise_distance(&batch);
    // A batch that only exploits the posterior mean, with lies that leave the mean as it
    // was, piles up where the mean is lowest (3e-6 apart here; the default's closest pair
    // is 3e-3 apart in a trust region about 0.1 wide): the bounds tell the two apart.
    let collapsed = suggest(Settings {
        liar: Liar::Mean,
        exploit_every: 1,
        exploit_in_flight_cap: 1,
        ..Settings::default()
    });
    let piled = min_pairwise_distance(&collapsed);
    assert!(
        piled < 1e-4,
        "collapsing batch spread {piled}: {collapsed:?}"
    );
    assert!(spread > 1e-3, "batch spread {spread}: {batch:?}");
}

#[test]
fn a_mean_lie_keeps_the_posterior_mean_and_removes_the_uncertainty() {
    let (points, values) = branin_history();
    let (lo, hi) = (values.iter().copied().fold(f64::INFINITY, f64::min), 300.0);
    let y: Vec<f64> = values.iter().map(|v| (v - lo) / (hi - lo)).collect();
    let gp = Gp::new(
        Inputs::new(points, vec![false, false]),
        y,
        crate::kernel::KernelParams {
            inverse_squared_lengthscales: vec![4.0, 4.0],
            signal: 1.0,
            noise: 1e-6,
        },
    )
    .expect("factors");
    let at = [0.31, 0.77];
    let before = gp.predict(&at);
    let extended = gp.extended(&at, &before.mean).expect("extends");
    let after = extended.predict(&at);
    assert!((after.mean[0] - before.mean[0]).abs() < 1e-6);
    assert!(after.variance[0] < 1e-3 * before.variance[0]);
}

/// One float and a two-way choice whose best float differs per choice: choice 0 is best at
/// 0.2 (value 0.02), choice 1 at 0.85 (value 0).
fn interacting(x: &[f64]) -> f64 {
    if Column::category_index(x[1], 2) == 0 {
        (x[0] - 0.2).powi(2) + 0.02
    } else {
        (x[0] - 0.85).powi(2)
    }
}

/// Choice 1 tried only where choice 0 is good, and choice 0 explored around its optimum:
/// the trust region sits on choice 0's optimum, where choice 1 looks worse than it is.
fn trapped_history() -> (Vec<f64>, Vec<f64>) {
    let (zero, one) = (
        Column::category_position(0, 2),
        Column::category_position(1, 2),
    );
    let mut points = Vec::new();
    for i in 0..16 {
        points.extend([0.1 + 0.2 * (i as f64) / 15.0, zero]);
    }
    for x in [0.15, 0.2, 0.25, 0.5] {
        points.extend([x, one]);
    }
    let values = points.chunks(2).map(interacting).collect();
    (points, values)
}

/// The values of a search of `f` that goes on from `history` (points, values) for `steps`
/// suggestions, one at a time, the history's first.
fn continued(
    mut engine: Engine,
    history: (Vec<f64>, Vec<f64>),
    steps: u64,
    f: fn(&[f64]) -> f64,
) -> Vec<f64> {
    let (mut points, mut values) = history;
    for t in 0..steps {
        let history = History {
            points: &points,
            values: &values,
            pending: &[],
        };
        let x = engine.suggest(&history, 1, t).expect("valid").remove(0);
        values.push(f(&x));
        points.extend(x);
    }
    values
}

fn finds_the_other_choices_optimum(settings: Settings) -> bool {
    let columns = vec![Column::Continuous, Column::Categorical(2)];
    let values = continued(
        Engine::new(columns, settings).expect("valid"),
        trapped_history(),
        12,
        interacting,
    );
    values.iter().any(|&v| v < 0.02)
}

#[test]
fn a_choice_that_needs_other_values_of_the_float_is_found_by_the_global_steps() {
    assert!(finds_the_other_choices_optimum(Settings::default()));
    assert!(!finds_the_other_choices_optimum(Settings {
        categorical_global_every: 0,
        ..Settings::default()
    }));
}

/// Like [`interacting`] with the choices' optima 0.006 apart and steep walls: choice 0 is
/// best at 0.2 (value 0.006), choice 1 at 0.85 (value 0).
fn steep_interacting(x: &[f64]) -> f64 {
    let (centre, floor) = if Column::category_index(x[1], 2) == 0 {
        (0.2, 0.006)
    } else {
        (0.85, 0.0)
    };
    floor + (x[0] - centre).powi(2) + 4.0 * (x[0] - centre).powi(4)
}

/// Choice 0 refined around its optimum, choice 1 tried a few times at choice 0's values
/// and once far off: most values sit near the best, a few far above, so the output warping
/// chooses the power transform.
fn skewed_trapped_history() -> (Vec<f64>, Vec<f64>) {
    let (zero, one) = (
        Column::category_position(0, 2),
        Column::category_position(1, 2),
    );
    let mut points = Vec::new();
    for i in 0..16 {
        points.extend([0.12 + 0.16 * (i as f64) / 15.0, zero]);
    }
    for x in [0.0, 0.95, 1.0] {
        points.extend([x, zero]);
    }
    for x in [0.15, 0.2, 0.3, 0.0] {
        points.extend([x, one]);
    }
    let values = points.chunks(2).map(steep_interacting).collect();
    (points, values)
}

fn finds_the_other_choice_despite_the_warp(settings: Settings) -> bool {
    let columns = vec![Column::Continuous, Column::Categorical(2)];
    let values = continued(
        Engine::new(columns, settings).expect("valid"),
        skewed_trapped_history(),
        12,
        steep_interacting,
    );
    values.iter().any(|&v| v < 0.006)
}

#[test]
fn the_global_steps_judge_the_other_choices_on_the_unwarped_scale() {
    let (_, values) = skewed_trapped_history();
    assert_ne!(
        crate::transform::OutputTransform::choose_warp(&values),
        crate::transform::Warp::Identity
    );
    assert!(finds_the_other_choice_despite_the_warp(Settings::default()));
    assert!(!finds_the_other_choice_despite_the_warp(Settings {
        unwarped_global_steps: false,
        ..Settings::default()
    }));
}

/// Two basins along the first coordinate (the better one at 0.8), one along the second.
fn two_basins(x: &[f64]) -> f64 {
    let near = 10.0 * (x[0] - 0.2).powi(2) + 0.5;
    let far = 10.0 * (x[0] - 0.8).powi(2);
    near.min(far) + (x[1] - 0.3).powi(2)
}

/// A search refined in the worse basin: its optimum first, then points around it that do
/// not improve on it (so the trust region has shrunk), and a spread design point or two in
/// the better basin's slope that tell the global model little.
fn refined_in_the_worse_basin() -> (Vec<f64>, Vec<f64>) {
    let mut points = vec![0.2, 0.3, 0.6, 0.9, 0.45, 0.1, 0.05, 0.7];
    for i in 0..20 {
        let t = i as f64 / 19.0;
        points.extend([0.16 + 0.08 * t, 0.26 + 0.08 * (1.0 - t)]);
    }
    let values = points.chunks(2).map(two_basins).collect();
    (points, values)
}

fn leaves_the_worse_basin(settings: Settings) -> bool {
    let values = continued(
        Engine::new(vec![Column::Continuous; 2], settings).expect("valid"),
        refined_in_the_worse_basin(),
        6,
        two_basins,
    );
    values.iter().any(|&v| v < 0.45)
}

#[test]
fn an_axis_step_finds_the_better_basin_of_one_coordinate() {
    assert!(leaves_the_worse_basin(Settings::default()));
    assert!(!leaves_the_worse_basin(Settings {
        axis_every: 0,
        ..Settings::default()
    }));
}

#[test]
fn axis_steps_stop_after_one_failure_per_coordinate_since_the_last_success() {
    let engine = Engine::new(vec![Column::Continuous; 2], Settings::default()).expect("valid");
    let (points, values) = refined_in_the_worse_basin();
    let mut rows: Vec<Vec<f64>> = points.chunks(2).map(<[f64]>::to_vec).collect();
    let mut values: Vec<f64> = values;
    assert!(engine.axis_steps_pay(&rows, &values), "no axis step yet");
    // Two axis steps from the incumbent (0.2, 0.3) that do not improve: one per coordinate.
    for x in [[0.2, 0.9], [0.5, 0.3]] {
        values.push(two_basins(&x));
        rows.push(x.to_vec());
    }
    assert!(!engine.axis_steps_pay(&rows, &values));
    // One that improves re-opens them.
    rows.push(vec![0.75, 0.3]);
    values.push(two_basins(&[0.75, 0.3]));
    assert!(engine.axis_steps_pay(&rows, &values));
}

/// The model of a call on a 5×5 grid of `quadratic` (its minimum (0.2, 0.3) not on the
/// grid) with two pending points: one at the minimum, one in a bad corner.
fn model_with_pending(liar: Liar) -> (Model, Vec<f64>, f64) {
    let engine = Engine::new(
        vec![Column::Continuous; 2],
        Settings {
            liar,
            ..Settings::default()
        },
    )
    .expect("valid");
    let grid = [0.1, 0.35, 0.55, 0.75, 0.95];
    let rows: Vec<Vec<f64>> = grid
        .iter()
        .flat_map(|&a| grid.iter().map(move |&b| vec![a, b]))
        .collect();
    let y: Vec<f64> = rows.iter().map(|r| quadratic(r)).collect();
    let gp = Gp::new(
        Inputs::new(rows.concat(), vec![false, false]),
        y.clone(),
        engine.default_fit().params,
    )
    .expect("factors");
    let best = y.iter().copied().fold(f64::INFINITY, f64::min);
    let best_row = rows[y.iter().position(|&v| v == best).expect("a best")].clone();
    let pending = vec![vec![0.2, 0.3], vec![0.95, 0.9]];
    let model = engine
        .with_lies(gp, &y, &pending, 0.4, None)
        .expect("a model");
    (model, best_row, best)
}

#[test]
fn a_believed_batch_builds_on_the_pending_point_expected_to_improve() {
    let (believed, best_row, best) = model_with_pending(Liar::Believed);
    assert_eq!(believed.incumbent, vec![0.2, 0.3]);
    assert!(believed.best < best, "{} vs {best}", believed.best);
    // The clipped lie keeps the best observation as the incumbent.
    let (clipped, _, _) = model_with_pending(Liar::KrigingBeliever);
    assert_eq!(clipped.incumbent, best_row);
    assert_eq!(clipped.best, best);
}

/// The next point after `history` in `columns` under `settings`, one at a time.
fn next_point(
    columns: Vec<Column>,
    settings: Settings,
    history: &(Vec<f64>, Vec<f64>),
) -> Vec<f64> {
    let history = History {
        points: &history.0,
        values: &history.1,
        pending: &[],
    };
    Engine::new(columns, settings)
        .expect("valid")
        .suggest(&history, 1, 7)
        .expect("valid")
        .remove(0)
}

/// The first `n` observations of a history in `d` columns.
fn first(
    (mut points, mut values): (Vec<f64>, Vec<f64>),
    d: usize,
    n: usize,
) -> (Vec<f64>, Vec<f64>) {
    points.truncate(d * n);
    values.truncate(n);
    (points, values)
}

#[test]
fn without_points_in_flight_the_lower_confidence_bound_replaces_log_ei_only_in_spaces_without_global_steps()
 {
    let log_ei = Settings {
        sequential_lcb: false,
        ..Settings::default()
    };
    let continuous = vec![Column::Continuous; 2];
    // 19 observations: suggestion 19 is neither a posterior-mean nor an axis step.
    let branin = first(branin_history(), 2, 19);
    let lcb = next_point(continuous.clone(), Settings::default(), &branin);
    let ei = next_point(continuous.clone(), log_ei.clone(), &branin);
    assert_ne!(lcb, ei);
    let no_kappa = Settings {
        lcb_kappa: None,
        ..Settings::default()
    };
    assert_eq!(next_point(continuous, no_kappa, &branin), ei);

    let mixed = vec![Column::Continuous, Column::Categorical(2)];
    let trapped = first(trapped_history(), 2, 19);
    assert_eq!(
        next_point(mixed.clone(), Settings::default(), &trapped),
        next_point(mixed.clone(), log_ei.clone(), &trapped)
    );
    // Without the global steps a space with a choice is searched like one without.
    let no_global = |settings: Settings| Settings {
        categorical_global_every: 0,
        ..settings
    };
    assert_ne!(
        next_point(mixed.clone(), no_global(Settings::default()), &trapped),
        next_point(mixed, no_global(log_ei), &trapped)
    );
}
