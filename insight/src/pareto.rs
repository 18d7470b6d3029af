//! Where each complete trial of a study with several objectives stands: on the Pareto front
//! (feasible, and no feasible trial dominates it over all the objectives), dominated, or
//! infeasible (a constraint broken). What `plot`'s Pareto chart and the dashboard's draw.

use std::collections::BTreeMap;

use hypersearch_search::multi::pareto::{losses, on_front};
use hypersearch_search::{Direction, Judged, Objectives};
use serde::Serialize;

/// One objective on an axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// The metric.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
}

/// Each objective of `objectives`, in the order of `[study] metrics`.
pub fn axes(objectives: &Objectives) -> Vec<Objective> {
    objectives
        .goals
        .iter()
        .map(|goal| Objective {
            metric: goal.metric.clone(),
            maximize: goal.direction == Direction::Maximize,
        })
        .collect()
}

/// Where a trial stands against the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// Feasible, and no feasible trial dominates it.
    Front,
    /// Feasible and dominated.
    Dominated,
    /// It breaks a constraint.
    Infeasible,
}

/// A complete trial at its objective values.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The trial's number.
    pub number: u64,
    /// Its value of the objective along x.
    pub x: f64,
    /// Its value of the objective along y (NaN with a single objective).
    pub y: f64,
    /// Where it stands (over all the study's objectives, not only the two drawn).
    pub standing: Standing,
}

/// A trial's objective values and constraint margins from its stored final `metrics` (a JSON
/// object of numbers); `None` when they are missing or lack one the objectives read (the
/// coordinator failed such a trial).
pub fn judge(objectives: &Objectives, metrics: Option<&serde_json::Value>) -> Option<Judged> {
    let metrics: BTreeMap<String, f64> = serde_json::from_value(metrics?.clone()).ok()?;
    objectives.judge(&metrics).ok()
}

/// Every judged trial, `(number, judged)`, at its values of the objectives of index `axes`
/// (x, y; an index past the last objective gives NaN): the feasible ones (front or
/// dominated) in the order given, then the infeasible ones.
pub fn points(
    objectives: &Objectives,
    judged: &[(u64, Judged)],
    axes: (usize, usize),
) -> Vec<Point> {
    let directions = objectives.directions();
    let feasible: Vec<&(u64, Judged)> = judged.iter().filter(|(_, j)| j.feasible()).collect();
    let front = on_front(
        &feasible
            .iter()
            .map(|(_, j)| losses(&j.values, &directions))
            .collect::<Vec<_>>(),
    );
    let point = |&(number, ref j): &(u64, Judged), standing| Point {
        number,
        x: j.values.get(axes.0).copied().unwrap_or(f64::NAN),
        y: j.values.get(axes.1).copied().unwrap_or(f64::NAN),
        standing,
    };
    let mut out: Vec<Point> = feasible
        .iter()
        .zip(front)
        .map(|(&trial, on)| {
            let standing = if on {
                Standing::Front
            } else {
                Standing::Dominated
            };
            point(trial, standing)
        })
        .collect();
    out.extend(
        judged
            .iter()
            .filter(|(_, j)| !j.feasible())
            .map(|trial| point(trial, Standing::Infeasible)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hypersearch_search::StudyConfig;

    fn objectives() -> Objectives {
        let text = "[objective]\ncommand = \"true\"\n[study]\nmetrics = [\"f1\", \"f2\"]\n\
                    directions = [\"minimize\", \"maximize\"]\nconstraints = [\"f1 <= 5\"]\n\
                    [search]\nalgorithm = \"random\"\ntrials = 4\n[search.space]\nx = { float = [0, 1] }\n";
        StudyConfig::from_toml_str(text, "t.toml")
            .unwrap()
            .objectives
    }

    #[test]
    fn the_front_is_the_feasible_trials_no_feasible_trial_dominates() {
        let objectives = objectives();
        let judged: Vec<(u64, Judged)> = [(1.0, 1.0), (2.0, 3.0), (2.0, 2.0), (6.0, 9.0)]
            .iter()
            .enumerate()
            .map(|(i, &(f1, f2))| {
                let metrics = serde_json::json!({ "f1": f1, "f2": f2 });
                (i as u64, judge(&objectives, Some(&metrics)).unwrap())
            })
            .collect();
        let drawn = points(&objectives, &judged, (0, 1));
        let standings: Vec<(u64, Standing)> =
            drawn.iter().map(|p| (p.number, p.standing)).collect();
        // f2 is maximized: (2, 3) is not dominated by (1, 1); (2, 2) is, by (2, 3); (6, 9)
        // would dominate every one but breaks f1 <= 5.
        assert_eq!(
            standings,
            [
                (0, Standing::Front),
                (1, Standing::Front),
                (2, Standing::Dominated),
                (3, Standing::Infeasible)
            ]
        );
        assert_eq!((drawn[1].x, drawn[1].y), (2.0, 3.0));
        // Axes swapped: the same standings, the values the other way round.
        let swapped = points(&objectives, &judged, (1, 0));
        assert_eq!((swapped[1].x, swapped[1].y), (3.0, 2.0));
        assert!(
            swapped
                .iter()
                .zip(&drawn)
                .all(|(a, b)| a.standing == b.standing)
        );
    }

    #[test]
    fn metrics_missing_an_objective_are_not_judged() {
        let objectives = objectives();
        assert!(judge(&objectives, Some(&serde_json::json!({ "f1": 1.0 }))).is_none());
        assert!(judge(&objectives, Some(&serde_json::json!("text"))).is_none());
        assert!(judge(&objectives, None).is_none());
    }
}
