//! The bayes sampler on two objectives: one GP per objective and the expected hypervolume
//! improvement, against ParEGO's scalarization.

use crate::multi::hypervolume::hypervolume_2d;
use crate::multi::pareto::on_front;
use crate::params::{ParamValue, Params};
use crate::sampler::{ConstraintHandling, SampleContext, Suggestion, make_sampler_with};
use crate::trial::{TrialRecord, TrialState};
use crate::{StudyConfig, make_sampler};

fn config(seed: u64) -> StudyConfig {
    let text = format!(
        "[objective]\nfunction = \"branin_currin\"\n[search]\nalgorithm = \"bayes\"\ntrials = 40\nseed = {seed}\n[search.space]\nx1 = {{ float = [0, 1] }}\nx2 = {{ float = [0, 1] }}\n"
    );
    StudyConfig::from_toml_str(&text, "bc.toml").unwrap()
}

fn suggest(sampler: &mut dyn crate::Sampler, number: u64, trials: &[TrialRecord]) -> Params {
    match sampler
        .suggest(&SampleContext::new(number, trials))
        .unwrap()
    {
        Suggestion::Params(p) => p,
        Suggestion::Exhausted => panic!("a continuous space is never exhausted"),
    }
}

fn complete(config: &StudyConfig, number: u64, params: Params) -> TrialRecord {
    let get = |k: &str| params.get(k).and_then(ParamValue::as_f64).unwrap();
    let metrics = hypersearch_testfns::evaluate_metrics(
        "branin_currin",
        &[("x1", get("x1")), ("x2", get("x2"))],
    )
    .unwrap()
    .into_iter()
    .map(|(m, v)| (m.to_string(), v))
    .collect();
    let judged = config.objectives.judge(&metrics).unwrap();
    TrialRecord {
        number,
        params,
        state: TrialState::Complete,
        value: Some(judged.values[0]),
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: Some(judged),
    }
}

/// The hypervolume (reference (18, 6)) of a sequential 40-trial study.
fn hypervolume(config: &StudyConfig, handling: ConstraintHandling) -> f64 {
    let mut sampler = make_sampler_with(config, handling).unwrap();
    let mut trials = Vec::new();
    for number in 0..40 {
        let p = suggest(sampler.as_mut(), number, &trials);
        trials.push(complete(config, number, p));
    }
    let values: Vec<Vec<f64>> = trials
        .iter()
        .map(|t| t.judged.as_ref().unwrap().values.clone())
        .collect();
    let front: Vec<[f64; 2]> = values
        .iter()
        .zip(on_front(&values))
        .filter(|(_, on)| *on)
        .map(|(v, _)| [v[0], v[1]])
        .collect();
    hypervolume_2d(&front, [18.0, 6.0])
}

#[test]
fn modelling_each_objective_covers_more_hypervolume_than_parego() {
    // The maximum is 59.36; over three seeds each, the expected hypervolume improvement
    // must come closer than ParEGO's random scalarizations.
    let (mut ehvi, mut parego) = (0.0, 0.0);
    for seed in 0..3 {
        let config = config(seed);
        ehvi += hypervolume(&config, ConstraintHandling::Feasibility);
        parego += hypervolume(&config, ConstraintHandling::Penalty);
    }
    assert!(ehvi > parego, "EHVI {ehvi} vs ParEGO {parego}");
    assert!(ehvi / 3.0 > 55.0, "EHVI mean hypervolume {}", ehvi / 3.0);
}

#[test]
fn eight_pending_trials_get_eight_distinct_points_and_fresh_samplers_agree() {
    let config = config(2);
    let mut sampler = make_sampler(&config).unwrap();
    let mut trials = Vec::new();
    for number in 0..15 {
        let p = suggest(sampler.as_mut(), number, &trials);
        trials.push(complete(&config, number, p));
    }
    let first = suggest(make_sampler(&config).unwrap().as_mut(), 15, &trials);
    assert_eq!(
        first,
        suggest(make_sampler(&config).unwrap().as_mut(), 15, &trials)
    );
    for number in 15..23 {
        let p = suggest(sampler.as_mut(), number, &trials);
        assert!(trials.iter().all(|t| t.params != p), "{p:?} repeated");
        trials.push(TrialRecord {
            number,
            params: p,
            state: TrialState::Running,
            value: None,
            intermediate: vec![],
            intermediate_objectives: Vec::new(),
            judged: None,
        });
    }
}
