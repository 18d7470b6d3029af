//! Several objectives and constraints: what a study optimizes ([`Objectives`]), how a
//! trial's final metrics are judged against it ([`Judged`]), and the Pareto machinery the
//! samplers and `hypersearch best` share.
//!
//! Layout: [`pareto`] (dominance, non-dominated sorting, crowding distance, ranking),
//! [`hypervolume`] (exact in two dimensions and, by slicing, in more; each point's
//! contribution),
//! [`scalarize`] (the history turned into one value per trial for the samplers).
//!
//! Constraints follow Optuna's convention: each is a *margin* that is ≤ 0 when satisfied,
//! and a trial is feasible when every margin is.

pub mod hypervolume;
pub mod pareto;
pub mod scalarize;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::trial::Direction;

/// One objective: a reported metric and which way is better.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Goal {
    /// The metric's name.
    pub metric: String,
    /// Which way is better.
    pub direction: Direction,
}

/// A comparison in a constraint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Operator {
    /// `<=`
    AtMost,
    /// `>=`
    AtLeast,
    /// `<`
    Below,
    /// `>`
    Above,
}

impl Operator {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Operator::AtMost => "<=",
            Operator::AtLeast => ">=",
            Operator::Below => "<",
            Operator::Above => ">",
        }
    }
}

/// A constraint on a reported metric, `metric OP bound` (`parameters <= 100000`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Constraint {
    /// The metric constrained.
    pub metric: String,
    /// The comparison.
    pub operator: Operator,
    /// The number it is compared with.
    pub bound: f64,
}

impl Constraint {
    /// How far `value` is from satisfying the constraint: ≤ 0 when it does, the distance to
    /// the bound when it does not (for a strict operator, equality is a violation of the
    /// smallest positive amount).
    pub fn margin(&self, value: f64) -> f64 {
        let (gap, strict) = match self.operator {
            Operator::AtMost => (value - self.bound, false),
            Operator::Below => (value - self.bound, true),
            Operator::AtLeast => (self.bound - value, false),
            Operator::Above => (self.bound - value, true),
        };
        if strict && gap >= 0.0 {
            gap.max(f64::MIN_POSITIVE)
        } else {
            gap
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.metric,
            self.operator.symbol(),
            self.bound
        )
    }
}

/// What a study optimizes: one or more goals, and the constraints a result must meet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objectives {
    /// The objectives, in the order of `[study] metrics` (one for a single objective).
    pub goals: Vec<Goal>,
    /// The constraints, in the order of `[study] constraints`.
    pub constraints: Vec<Constraint>,
}

/// A complete trial's final metrics read against the study's [`Objectives`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    /// The objective values, as reported, in the order of the goals.
    pub values: Vec<f64>,
    /// One margin per constraint (≤ 0 when satisfied).
    pub margins: Vec<f64>,
}

impl Judged {
    /// Whether every constraint is satisfied.
    pub fn feasible(&self) -> bool {
        feasible(&self.margins)
    }
}

/// Whether every margin is satisfied (≤ 0).
pub fn feasible(margins: &[f64]) -> bool {
    margins.iter().all(|&m| m <= 0.0)
}

/// The total violation of `margins`: 0 when feasible.
pub fn violation(margins: &[f64]) -> f64 {
    margins.iter().map(|&m| m.max(0.0)).sum()
}

impl Objectives {
    /// Whether there is more than one objective.
    pub fn is_multi(&self) -> bool {
        self.goals.len() > 1
    }

    /// Whether the study needs more than the first objective's value from a trial (several
    /// objectives or any constraint).
    pub fn needs_metrics(&self) -> bool {
        self.is_multi() || !self.constraints.is_empty()
    }

    /// The goals' metrics when there are several (what early stopping judges per epoch);
    /// none for a single objective.
    pub fn judged_metrics(&self) -> Vec<String> {
        if self.is_multi() {
            self.goals.iter().map(|g| g.metric.clone()).collect()
        } else {
            Vec::new()
        }
    }

    /// The directions of the goals.
    pub fn directions(&self) -> Vec<Direction> {
        self.goals.iter().map(|g| g.direction).collect()
    }

    /// Every metric a complete trial must report: the goals', then the constraints'
    /// (each once).
    pub fn required_metrics(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        let all = self.goals.iter().map(|g| g.metric.as_str());
        for name in all.chain(self.constraints.iter().map(|c| c.metric.as_str())) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// Reads a trial's final metrics.
    ///
    /// # Errors
    /// The name of the first required metric that is missing or not a number.
    pub fn judge(&self, metrics: &BTreeMap<String, f64>) -> Result<Judged, String> {
        let get = |name: &str| match metrics.get(name) {
            Some(&v) if !v.is_nan() => Ok(v),
            _ => Err(name.to_string()),
        };
        let values = self
            .goals
            .iter()
            .map(|g| get(&g.metric))
            .collect::<Result<Vec<_>, _>>()?;
        let margins = self
            .constraints
            .iter()
            .map(|c| get(&c.metric).map(|v| c.margin(v)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Judged { values, margins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constraint(op: Operator, bound: f64) -> Constraint {
        Constraint {
            metric: "m".into(),
            operator: op,
            bound,
        }
    }

    #[test]
    fn margins_are_satisfied_exactly_when_the_comparison_holds() {
        for (op, value, holds) in [
            (Operator::AtMost, 1.0, true),
            (Operator::AtMost, 1.5, false),
            (Operator::Below, 1.0, false),
            (Operator::Below, 0.5, true),
            (Operator::AtLeast, 1.0, true),
            (Operator::AtLeast, 0.5, false),
            (Operator::Above, 1.0, false),
            (Operator::Above, 2.0, true),
        ] {
            let m = constraint(op, 1.0).margin(value);
            assert_eq!(m <= 0.0, holds, "{value} {} 1: margin {m}", op.symbol());
        }
    }

    #[test]
    fn judging_names_the_first_missing_metric() {
        let objectives = Objectives {
            goals: vec![Goal {
                metric: "f1".into(),
                direction: Direction::Minimize,
            }],
            constraints: vec![constraint(Operator::AtMost, 2.0)],
        };
        let metrics = BTreeMap::from([("f1".to_string(), 1.0)]);
        assert_eq!(objectives.judge(&metrics), Err("m".to_string()));
        let metrics = BTreeMap::from([("f1".to_string(), 1.0), ("m".to_string(), 3.0)]);
        let judged = objectives.judge(&metrics).unwrap();
        assert_eq!(judged.values, [1.0]);
        assert!(!judged.feasible());
        assert_eq!(violation(&judged.margins), 1.0);
    }
}
