//! A study's trials as every view takes them: one [`TrialRow`] per trial, in trial-number
//! order, with the study metric's learning curve of its latest attempt.

use hypersearch_search::Params;
use serde::Serialize;

/// How a trial ended, or where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Waiting for a worker.
    Queued,
    /// Running now.
    Running,
    /// Finished with a value.
    Complete,
    /// Stopped early by the early-stopping rule.
    Pruned,
    /// Failed for good.
    Failed,
}

impl Outcome {
    /// The store's name of the state (`queued`, `running`, `complete`, `pruned`, `failed`);
    /// `None` for a name it does not know.
    pub fn from_name(name: &str) -> Option<Outcome> {
        Some(match name {
            "queued" => Outcome::Queued,
            "running" => Outcome::Running,
            "complete" => Outcome::Complete,
            "pruned" => Outcome::Pruned,
            "failed" => Outcome::Failed,
            _ => return None,
        })
    }

    /// The state's name, as the store writes it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Queued => "queued",
            Outcome::Running => "running",
            Outcome::Complete => "complete",
            Outcome::Pruned => "pruned",
            Outcome::Failed => "failed",
        }
    }
}

/// One trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRow {
    /// Its number within the study.
    pub number: u64,
    /// Where it stands.
    pub outcome: Outcome,
    /// The study metric: final for a complete trial, last reported for a pruned one.
    pub value: Option<f64>,
    /// The sampled point.
    pub params: Params,
    /// The worker of its latest attempt.
    pub worker: Option<String>,
    /// Attempts started (more than one: it was retried).
    pub attempts: u32,
    /// When its latest attempt started, in seconds since the Unix epoch.
    pub started: Option<f64>,
    /// When it ended, in seconds since the Unix epoch.
    pub finished: Option<f64>,
    /// The study metric per epoch of its latest attempt, `(epoch, value)`, epochs increasing.
    pub curve: Vec<(u32, f64)>,
}

/// A study's trials and what their values mean.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyTrials {
    /// The study's name.
    pub study: String,
    /// The metric its values are of.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
    /// Every trial, in number order.
    pub rows: Vec<TrialRow>,
}

impl StudyTrials {
    /// The complete trials with a finite value: what importance and history rank.
    pub fn complete(&self) -> impl Iterator<Item = &TrialRow> {
        self.rows.iter().filter(|row| {
            row.outcome == Outcome::Complete && row.value.is_some_and(|value| value.is_finite())
        })
    }

    /// Whether `a` is a better value than `b` for this study.
    pub fn better(&self, a: f64, b: f64) -> bool {
        if self.maximize { a > b } else { a < b }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A study whose trial `i` is complete with `values[i]` and a one-parameter point.
    pub(crate) fn study(maximize: bool, values: &[f64]) -> StudyTrials {
        StudyTrials {
            study: "s".into(),
            metric: "value".into(),
            maximize,
            rows: values
                .iter()
                .enumerate()
                .map(|(i, &value)| TrialRow {
                    number: i as u64,
                    outcome: Outcome::Complete,
                    value: Some(value),
                    params: Params::from([(
                        "x".to_string(),
                        hypersearch_search::ParamValue::Float(i as f64),
                    )]),
                    worker: Some("w".into()),
                    attempts: 1,
                    started: Some(i as f64),
                    finished: Some(i as f64 + 0.5),
                    curve: vec![(1, value)],
                })
                .collect(),
        }
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for outcome in [
            Outcome::Queued,
            Outcome::Running,
            Outcome::Complete,
            Outcome::Pruned,
            Outcome::Failed,
        ] {
            assert_eq!(Outcome::from_name(outcome.name()), Some(outcome));
        }
        assert_eq!(Outcome::from_name("lost"), None);
    }
}
