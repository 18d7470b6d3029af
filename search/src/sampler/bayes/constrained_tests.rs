//! The bayes sampler under constraints: it learns the probability of feasibility from the
//! trials' margins, with one objective and with two.

use std::collections::BTreeMap;

use crate::params::{ParamValue, Params};
use crate::sampler::{ConstraintHandling, SampleContext, Suggestion, make_sampler_with};
use crate::trial::{TrialRecord, TrialState};
use crate::{StudyConfig, make_sampler};

/// Minimum at (0.8, 0.8), outside `x + y ≤ 1`; the constrained minimum is 0.18 at
/// (0.5, 0.5), on the boundary.
fn config(study: &str) -> StudyConfig {
    let text = format!(
        "[study]\nconstraints = [\"c <= 1\"]\n{study}\n[search]\nalgorithm = \"bayes\"\ntrials = 30\nseed = 11\nn_startup_trials = 6\n[search.space]\nx = {{ float = [0.0, 1.0] }}\ny = {{ float = [0.0, 1.0] }}\n"
    );
    StudyConfig::from_toml_str(&text, "constrained.toml").unwrap()
}

fn coordinates(p: &Params) -> (f64, f64) {
    let get = |k: &str| p.get(k).and_then(ParamValue::as_f64).unwrap();
    (get("x"), get("y"))
}

/// A complete trial: `f` (and `g`, the distance to the corner (1, 0)) and `c = x + y`.
fn complete(config: &StudyConfig, number: u64, params: Params) -> TrialRecord {
    let (x, y) = coordinates(&params);
    let f = (x - 0.8).powi(2) + (y - 0.8).powi(2);
    let metrics = BTreeMap::from([
        ("f".to_string(), f),
        ("g".to_string(), (x - 1.0).powi(2) + y * y),
        ("c".to_string(), x + y),
    ]);
    let judged = config.objectives.judge(&metrics).unwrap();
    TrialRecord {
        number,
        params,
        state: TrialState::Complete,
        value: Some(f),
        intermediate: vec![],
        intermediate_objectives: Vec::new(),
        judged: Some(judged),
    }
}

/// A sequential study of 30 trials.
fn study(config: &StudyConfig, handling: ConstraintHandling) -> Vec<TrialRecord> {
    let mut sampler = make_sampler_with(config, handling).unwrap();
    let mut trials = Vec::new();
    for number in 0..30 {
        let Suggestion::Params(p) = sampler
            .suggest(&SampleContext::new(number, &trials))
            .unwrap()
        else {
            panic!("a continuous space is never exhausted")
        };
        trials.push(complete(config, number, p));
    }
    trials
}

fn feasible(t: &TrialRecord) -> bool {
    t.judged.as_ref().is_some_and(|j| j.feasible())
}

fn best_feasible(trials: &[TrialRecord]) -> f64 {
    trials
        .iter()
        .filter(|t| feasible(t))
        .filter_map(|t| t.value)
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn late_suggestions_are_feasible_and_the_best_feasible_beats_the_penalty() {
    let config = config("metric = \"f\"\n[objective]\ncommand = \"train.sh\"");
    let learned = study(&config, ConstraintHandling::Feasibility);
    let late = learned[15..].iter().filter(|t| feasible(t)).count();
    assert!(late >= 10, "{late} of the last 15 feasible");
    let penalized = study(&config, ConstraintHandling::Penalty);
    let (best, penalty) = (best_feasible(&learned), best_feasible(&penalized));
    assert!(best < 0.18 + 5e-3, "best feasible {best}");
    assert!(best <= penalty, "{best} vs penalty {penalty}");
}

#[test]
fn pending_trials_get_distinct_suggestions_under_constraints() {
    let config = config("metric = \"f\"\n[objective]\ncommand = \"train.sh\"");
    let mut trials = study(&config, ConstraintHandling::Feasibility);
    trials.truncate(12);
    let mut sampler = make_sampler(&config).unwrap();
    for number in 12..20 {
        let Suggestion::Params(p) = sampler
            .suggest(&SampleContext::new(number, &trials))
            .unwrap()
        else {
            panic!("a continuous space is never exhausted")
        };
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

#[test]
fn two_objectives_with_learned_constraints_keep_the_late_trials_feasible() {
    // A second objective, set directly (a command objective's config names one metric).
    let mut config = config("metric = \"f\"\n[objective]\ncommand = \"train.sh\"");
    config.objectives.goals.push(crate::multi::Goal {
        metric: "g".into(),
        direction: crate::trial::Direction::Minimize,
    });
    let trials = study(&config, ConstraintHandling::Feasibility);
    let late = trials[15..].iter().filter(|t| feasible(t)).count();
    assert!(late >= 10, "{late} of the last 15 feasible");
    let again = study(&config, ConstraintHandling::Feasibility);
    let params = |ts: &[TrialRecord]| ts.iter().map(|t| t.params.clone()).collect::<Vec<_>>();
    assert_eq!(
        params(&trials),
        params(&again),
        "deterministic given the seed"
    );
}
