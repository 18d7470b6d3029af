use hypersearch_search::{Params, StudyConfig};

use super::*;
use crate::Outcome;

/// A deterministic stream of numbers in [0, 1) (SplitMix64).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as f64 / u64::MAX as f64
    }
}

/// A study of `n` complete trials: `point` draws each trial's params and value.
fn study(
    n: u64,
    maximize: bool,
    mut point: impl FnMut(&mut Draws) -> (Params, f64),
) -> StudyTrials {
    let mut draws = Draws(7);
    let rows = (0..n)
        .map(|number| {
            let (params, value) = point(&mut draws);
            TrialRow {
                number,
                outcome: Outcome::Complete,
                value: Some(value),
                params,
                worker: None,
                attempts: 1,
                started: None,
                finished: None,
                curve: Vec::new(),
            }
        })
        .collect();
    StudyTrials {
        study: "s".into(),
        metric: "loss".into(),
        maximize,
        rows,
    }
}

fn params(pairs: &[(&str, ParamValue)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn find<'a>(found: &'a [Importance], name: &str) -> &'a Importance {
    found.iter().find(|i| i.parameter == name).unwrap()
}

fn assert_sums_to_one(found: &[Importance]) {
    let total: f64 = found.iter().map(|i| i.importance).sum();
    assert!((total - 1.0).abs() < 1e-9, "{found:?}");
}

#[test]
fn a_parameter_that_decides_the_value_gets_nearly_all_the_importance() {
    let trials = study(300, false, |d| {
        let (x, y, z) = (d.next(), d.next(), d.next());
        let p = params(&[("x", x.into()), ("y", y.into()), ("z", z.into())]);
        (p, x)
    });
    let found = importance(&trials, None).unwrap();
    assert_eq!(found[0].parameter, "x", "{found:?}");
    assert!(found[0].importance > 0.8, "{found:?}");
    assert_sums_to_one(&found);
    // A higher x gave a worse (higher) loss.
    assert!(find(&found, "x").correlation.unwrap() < -0.99, "{found:?}");
    assert!(
        find(&found, "y").correlation.unwrap().abs() < 0.2,
        "{found:?}"
    );
    assert_eq!(find(&found, "x").trials, 300);
}

#[test]
fn a_maximized_study_counts_a_higher_value_as_better() {
    let trials = study(100, true, |d| {
        let (x, y) = (d.next(), d.next());
        (params(&[("x", x.into()), ("y", y.into())]), x)
    });
    let found = importance(&trials, None).unwrap();
    assert_eq!(found[0].parameter, "x");
    assert!(found[0].correlation.unwrap() > 0.99, "{found:?}");
}

#[test]
fn a_constant_parameter_gets_no_importance_and_no_correlation() {
    let trials = study(100, false, |d| {
        let x = d.next();
        (params(&[("x", x.into()), ("fixed", 3.into())]), x)
    });
    let found = importance(&trials, None).unwrap();
    let fixed = find(&found, "fixed");
    assert_eq!(fixed.importance, 0.0, "{found:?}");
    assert_eq!(fixed.correlation, None);
    assert_eq!(found[0].parameter, "x");
    assert_sums_to_one(&found);
}

#[test]
fn a_categorical_parameter_is_measured_without_a_correlation() {
    let choices = ["sgd", "momentum", "adamw"];
    let trials = study(200, false, |d| {
        let choice = choices[(d.next() * 3.0) as usize % 3];
        let noise = d.next();
        let loss = if choice == "adamw" { 0.0 } else { 1.0 } + 0.1 * d.next();
        let p = params(&[("optimizer", choice.into()), ("noise", noise.into())]);
        (p, loss)
    });
    let found = importance(&trials, None).unwrap();
    assert_eq!(found[0].parameter, "optimizer", "{found:?}");
    assert!(found[0].importance > 0.7, "{found:?}");
    assert_eq!(found[0].correlation, None);
}

#[test]
fn a_conditional_parameter_is_measured_on_the_trials_where_it_exists() {
    // `units_3` exists when `layers ≥ 3`; there, it alone decides the value.
    let trials = study(400, false, |d| {
        let layers = 1 + (d.next() * 4.0) as i64 % 4;
        let noise = d.next();
        let mut p = params(&[("layers", layers.into()), ("noise", noise.into())]);
        let loss = if layers >= 3 {
            let units = 1 + (d.next() * 64.0) as i64 % 64;
            p.insert("units_3".into(), units.into());
            ((units - 48) as f64 / 64.0).abs()
        } else {
            1.0 + d.next()
        };
        (p, loss)
    });
    let present = trials
        .rows
        .iter()
        .filter(|r| r.params.contains_key("units_3"))
        .count();
    let found = importance(&trials, None).unwrap();
    let units = find(&found, "units_3");
    assert_eq!(units.trials, present);
    assert!(present > 150 && present < 250, "{present}");
    assert_eq!(found[0].parameter, "units_3", "{found:?}");
    assert!(find(&found, "noise").importance < 0.1, "{found:?}");
    assert_sums_to_one(&found);
}

#[test]
fn a_log_scale_from_the_search_space_bins_by_the_logarithm() {
    let config = StudyConfig::from_toml_str(
        "[study]\nname = \"s\"\nmetric = \"loss\"\n[objective]\ncommand = \"true\"\n\
         [search]\ntrials = 5\n[search.space]\n\
         lr = { float = [1e-6, 1.0], log = true }\nnoise = { float = [0, 1] }\n",
        "s.toml",
    )
    .unwrap();
    let trials = study(300, false, |d| {
        let lr = 10f64.powf(-6.0 * d.next());
        let noise = d.next();
        let loss = (lr.log10() + 4.0).abs();
        (params(&[("lr", lr.into()), ("noise", noise.into())]), loss)
    });
    let found = importance(&trials, Some(&config.space)).unwrap();
    assert_eq!(found[0].parameter, "lr", "{found:?}");
    assert!(found[0].importance > 0.8, "{found:?}");
    // 1e-5 is a sixth of the way up on a log scale, in the first bin on a linear one.
    let values = [1e-6, 1e-5, 1.0].map(ParamValue::Float);
    let values: Vec<(usize, &ParamValue)> = values.iter().enumerate().collect();
    let domain = config.space.get("lr").map(|p| &p.domain);
    let bins = |column: Column| column.bins.iter().map(|b| b.1).collect::<Vec<_>>();
    assert_eq!(bins(Column::new(domain, &values)), [0, 8, 49]);
    assert_eq!(bins(Column::new(None, &values)), [0, 0, 49]);
}

#[test]
fn too_few_complete_trials_is_a_clear_error() {
    let mut trials = study(12, false, |d| {
        let x = d.next();
        (params(&[("x", x.into())]), x)
    });
    for row in &mut trials.rows[..4] {
        row.outcome = Outcome::Pruned;
    }
    let error = importance(&trials, None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "importance needs at least 10 complete trials, study `s` has 8"
    );
}

#[test]
fn the_top_quantile_keeps_ties_at_the_cutoff() {
    let losses = [5.0, 1.0, 2.0, 2.0, 9.0, 7.0, 3.0, 8.0, 6.0, 4.0, 2.0, 10.0];
    // ⌈0.1·12⌉ = 2: the second smallest is 2.0, and every 2.0 is kept.
    let top = top_quantile(&losses, 0.1);
    let kept: Vec<f64> = losses
        .iter()
        .zip(&top)
        .filter(|t| *t.1)
        .map(|t| *t.0)
        .collect();
    assert_eq!(kept, [1.0, 2.0, 2.0, 2.0]);
}

#[test]
fn spearman_ranks_ties_by_their_average() {
    assert_eq!(
        ranks([3.0, 1.0, 3.0, 2.0].into_iter()),
        [3.5, 1.0, 3.5, 2.0]
    );
    let perfect: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, (i * i) as f64)).collect();
    assert!((spearman(&perfect).unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(spearman(&[(1.0, 2.0), (1.0, 3.0)]), None);
}
