//! `hypersearch best` for a study with several objectives or constraints: only feasible
//! complete trials count. With several objectives the answer is the Pareto front (every
//! feasible trial no other feasible trial dominates), or with `--top K` the best K by
//! non-dominated rank, then crowding distance; with one constrained objective, the best
//! feasible values.

use hypersearch_coordinator::store::query::TrialSummary;
use hypersearch_search::multi::pareto::{losses, on_front, top_order};
use hypersearch_search::{Judged, Objectives};

use super::output::{self, number, say};
use crate::cli::Format;

/// A complete trial with its objective values and constraint margins.
#[derive(Debug, Clone)]
pub struct Judgement {
    /// The trial as the store lists it.
    pub trial: TrialSummary,
    /// Its objectives and constraints.
    pub judged: Judged,
}

/// Reads each trial's final metrics against `objectives`; a trial missing one is left out
/// (the coordinator failed it).
pub fn judge_all(objectives: &Objectives, trials: Vec<TrialSummary>) -> Vec<Judgement> {
    trials
        .into_iter()
        .filter_map(|trial| {
            let judged = hypersearch_insight::pareto::judge(objectives, trial.metrics.as_ref())?;
            Some(Judgement { trial, judged })
        })
        .collect()
}

/// The best feasible trials: with several objectives the Pareto front (`top` = `None`,
/// ordered by the first objective) or the best `top` by rank then crowding; with one, the
/// best `top` values (10 when `None`).
pub fn best(objectives: &Objectives, judged: Vec<Judgement>, top: Option<u64>) -> Vec<Judgement> {
    let directions = objectives.directions();
    let mut feasible: Vec<Judgement> = judged.into_iter().filter(|j| j.judged.feasible()).collect();
    let take = |top: u64| usize::try_from(top).unwrap_or(usize::MAX);
    let points: Vec<Vec<f64>> = feasible
        .iter()
        .map(|j| losses(&j.judged.values, &directions))
        .collect();
    let by_number = |a: &Judgement, b: &Judgement| a.trial.trial.cmp(&b.trial.trial);
    if !objectives.is_multi() || top.is_some() {
        let order = if objectives.is_multi() {
            top_order(&points, take(top.unwrap_or(10)))
        } else {
            let mut order: Vec<usize> = (0..points.len()).collect();
            order.sort_by(|&a, &b| points[a][0].total_cmp(&points[b][0]).then(a.cmp(&b)));
            order
        };
        let mut slots: Vec<Option<Judgement>> = feasible.into_iter().map(Some).collect();
        return order
            .into_iter()
            .take(take(top.unwrap_or(10)))
            .filter_map(|i| slots[i].take())
            .collect();
    }
    let mut keep = on_front(&points).into_iter();
    feasible.retain(|_| keep.next().unwrap_or(false));
    feasible.sort_by(|a, b| {
        directions[0]
            .as_loss(a.judged.values[0])
            .total_cmp(&directions[0].as_loss(b.judged.values[0]))
            .then_with(|| by_number(a, b))
    });
    feasible
}

/// The Pareto chart's points: every judged trial at its first two objectives, standing on
/// the front (among the feasible, over all objectives), dominated, or infeasible.
pub fn chart_points(
    objectives: &Objectives,
    judged: &[Judgement],
) -> Vec<hypersearch_plots::pareto::Point> {
    let numbered: Vec<(u64, Judged)> = judged
        .iter()
        .map(|j| (j.trial.trial, j.judged.clone()))
        .collect();
    hypersearch_insight::pareto::points(objectives, &numbered, (0, 1))
}

/// Prints the chosen trials: a table with one column per objective, or the store's JSON /
/// CSV listing (whose `metrics` hold every objective and constrained metric).
pub fn print(
    study: &str,
    objectives: &Objectives,
    chosen: &[Judgement],
    format: Format,
) -> anyhow::Result<()> {
    if format != Format::Table {
        let trials: Vec<TrialSummary> = chosen.iter().map(|j| j.trial.clone()).collect();
        return match format {
            Format::Json => output::print_json(&trials),
            _ => {
                let (header, rows) = super::query::trial_csv(&trials);
                output::print_csv(&header, &rows)
            }
        };
    }
    if chosen.is_empty() {
        say!("study `{study}`: no feasible complete trial");
        return Ok(());
    }
    let goals: Vec<String> = objectives
        .goals
        .iter()
        .map(|g| {
            let way = match g.direction {
                hypersearch_search::Direction::Minimize => "min",
                hypersearch_search::Direction::Maximize => "max",
            };
            format!("{} ({way})", g.metric)
        })
        .collect();
    // "hyperparameters", not "parameters": a network's parameter count is often an objective.
    let searched_architecture = chosen
        .iter()
        .any(|j| !output::architecture(&j.trial.params).is_empty());
    let mut header: Vec<&str> = vec!["trial"];
    header.extend(goals.iter().map(String::as_str));
    if searched_architecture {
        header.push("architecture");
    }
    header.push("hyperparameters");
    let mut table = output::table(&header);
    for j in chosen {
        let mut row = vec![j.trial.trial.to_string()];
        row.extend(j.judged.values.iter().map(|&v| number(v)));
        if searched_architecture {
            row.push(output::architecture(&j.trial.params));
        }
        row.push(output::hyperparameters(&j.trial.params));
        table.add_row(row);
    }
    let hidden = output::fit(
        &mut table,
        &header,
        &[],
        &["architecture", "hyperparameters"],
    );
    say!("{table}");
    if let Some(hidden) = hidden {
        say!("{hidden}");
    }
    if !objectives.constraints.is_empty() {
        let shown: Vec<String> = objectives
            .constraints
            .iter()
            .map(|c| c.to_string())
            .collect();
        say!("feasible: {}", shown.join(", "));
    }
    Ok(())
}

/// For a complete trial of a study with several objectives or constraints: every objective's
/// value and whether the trial is feasible (naming the constraints it breaks), e.g.
/// `f1 = 3.2, f2 = 9.5; infeasible: breaks f2 <= 9`. `None` for other studies.
pub fn describe(study_config: &str, metrics: Option<&serde_json::Value>) -> Option<String> {
    let config =
        hypersearch_search::StudyConfig::from_toml_str(study_config, "the stored study").ok()?;
    let objectives = &config.objectives;
    if !objectives.needs_metrics() {
        return None;
    }
    let judged = hypersearch_insight::pareto::judge(objectives, metrics)?;
    let values: Vec<String> = objectives
        .goals
        .iter()
        .zip(&judged.values)
        .map(|(g, &v)| format!("{} = {}", g.metric, number(v)))
        .collect();
    let broken: Vec<String> = objectives
        .constraints
        .iter()
        .zip(&judged.margins)
        .filter(|&(_, &m)| m > 0.0)
        .map(|(c, _)| c.to_string())
        .collect();
    let feasibility = match (objectives.constraints.is_empty(), broken.is_empty()) {
        (true, _) => String::new(),
        (false, true) => "; feasible".to_string(),
        (false, false) => format!("; infeasible: breaks {}", broken.join(", ")),
    };
    Some(format!("{}{feasibility}", values.join(", ")))
}
