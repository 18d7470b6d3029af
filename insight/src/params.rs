//! The complete trials as parameter columns, for parallel coordinates and slice plots: one
//! axis per parameter (numeric with its scale, or categorical with its categories), a
//! thinned sample of trials past a few thousand that keeps the best ones.

use std::collections::{BTreeMap, BTreeSet};

use hypersearch_search::{Domain, ParamValue, SearchSpace};
use serde::Serialize;

use crate::history::spans_decades;
use crate::sample;
use crate::trials::StudyTrials;

/// Trials drawn at most (the best [`KEEP_BEST`] always among them).
pub const PARAM_POINTS: usize = 4000;
/// The best trials every sample keeps.
pub const KEEP_BEST: usize = 50;

/// How a parameter's values are laid out on its axis.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Axis {
    /// Numbers from `low` to `high`.
    Numeric {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// On a log scale.
        log: bool,
        /// Integers only.
        integer: bool,
    },
    /// Unordered values; a cell holds the index of its category.
    Categorical {
        /// The categories as text, in the space's order (or sorted when the space is unknown).
        categories: Vec<String>,
    },
}

/// One parameter's axis and cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamColumn {
    /// The parameter.
    pub name: String,
    /// Its axis.
    pub axis: Axis,
    /// Per sampled trial: its value (a category's index for a categorical axis), `None`
    /// where the parameter is absent (a conditional parameter whose condition is false).
    pub cells: Vec<Option<f64>>,
}

/// The complete trials' parameters and values, column by column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamTable {
    /// The metric.
    pub metric: String,
    /// Whether higher is better.
    pub maximize: bool,
    /// The sampled trials, in number order.
    pub numbers: Vec<u64>,
    /// Their values.
    pub values: Vec<f64>,
    /// One per parameter, in the space's order (or by name).
    pub columns: Vec<ParamColumn>,
    /// Complete trials in all.
    pub complete: usize,
}

/// The parameter table of `trials`' complete trials; `space` gives the axes' ranges, scales
/// and categories (without it, they are read from the values).
pub fn param_table(trials: &StudyTrials, space: Option<&SearchSpace>) -> ParamTable {
    let complete: Vec<_> = trials.complete().collect();
    let values: Vec<f64> = complete.iter().filter_map(|row| row.value).collect();
    let mut ranked: Vec<usize> = (0..values.len()).collect();
    ranked.sort_by(|&a, &b| {
        let order = values[a].total_cmp(&values[b]);
        if trials.maximize {
            order.reverse()
        } else {
            order
        }
    });
    ranked.truncate(KEEP_BEST);
    let chosen = sample::envelope(&values, PARAM_POINTS, &ranked);
    let mut names: Vec<String> = space
        .map(|space| {
            space
                .params()
                .iter()
                .map(|spec| spec.name.clone())
                .collect()
        })
        .unwrap_or_default();
    let seen: BTreeSet<&String> = complete.iter().flat_map(|row| row.params.keys()).collect();
    for name in seen {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let columns = names
        .into_iter()
        .filter_map(|name| {
            let all: Vec<Option<&ParamValue>> =
                complete.iter().map(|row| row.params.get(&name)).collect();
            let domain = space.and_then(|space| space.get(&name)).map(|s| &s.domain);
            let axis = axis(domain, &all)?;
            let cells = chosen.iter().map(|&at| cell(&axis, all[at])).collect();
            Some(ParamColumn { name, axis, cells })
        })
        .collect();
    ParamTable {
        metric: trials.metric.clone(),
        maximize: trials.maximize,
        numbers: chosen.iter().map(|&at| complete[at].number).collect(),
        values: chosen.iter().map(|&at| values[at]).collect(),
        columns,
        complete: complete.len(),
    }
}

/// The axis of a parameter with `domain` (when known) and these values; `None` when it has
/// no value at all.
fn axis(domain: Option<&Domain>, all: &[Option<&ParamValue>]) -> Option<Axis> {
    match domain {
        Some(Domain::Float(float)) => {
            return Some(Axis::Numeric {
                low: float.low,
                high: float.effective_high(),
                log: float.log,
                integer: false,
            });
        }
        Some(Domain::Int(int)) => {
            return Some(Axis::Numeric {
                low: int.low as f64,
                high: int.high as f64,
                log: int.log,
                integer: true,
            });
        }
        Some(Domain::Categorical(choices)) => {
            return Some(Axis::Categorical {
                categories: choices.iter().map(label).collect(),
            });
        }
        None => {}
    }
    let present: Vec<&ParamValue> = all.iter().flatten().copied().collect();
    if present.is_empty() {
        return None;
    }
    let numbers: Option<Vec<f64>> = present.iter().map(|value| value.as_f64()).collect();
    Some(match numbers {
        Some(numbers) => Axis::Numeric {
            low: numbers.iter().copied().fold(f64::INFINITY, f64::min),
            high: numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            log: spans_decades(&numbers),
            integer: present
                .iter()
                .all(|value| matches!(value, ParamValue::Int(_))),
        },
        None => {
            let categories: BTreeMap<String, ()> =
                present.iter().map(|value| (label(value), ())).collect();
            Axis::Categorical {
                categories: categories.into_keys().collect(),
            }
        }
    })
}

/// A value as a category's label: a string as it is, anything else as it prints.
pub fn label(value: &ParamValue) -> String {
    match value {
        ParamValue::Str(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A value's position on `axis`.
fn cell(axis: &Axis, value: Option<&ParamValue>) -> Option<f64> {
    let value = value?;
    match axis {
        Axis::Numeric { .. } => value.as_f64(),
        Axis::Categorical { categories } => {
            let text = label(value);
            categories
                .iter()
                .position(|category| *category == text)
                .map(|at| at as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trials::tests::study;

    #[test]
    fn columns_read_their_axes_from_the_values_when_the_space_is_unknown() {
        let mut trials = study(false, &[3.0, 1.0, 2.0]);
        for (i, row) in trials.rows.iter_mut().enumerate() {
            let act = ["relu", "tanh", "relu"][i];
            row.params.insert("act".into(), ParamValue::Str(act.into()));
            if i > 0 {
                row.params
                    .insert("lr".into(), ParamValue::Float(10f64.powi(-(i as i32) * 2)));
            }
        }
        let table = param_table(&trials, None);
        assert_eq!(table.numbers, vec![0, 1, 2]);
        let act = &table.columns[0];
        assert_eq!(act.name, "act");
        assert_eq!(
            act.axis,
            Axis::Categorical {
                categories: vec!["relu".into(), "tanh".into()]
            }
        );
        assert_eq!(act.cells, vec![Some(0.0), Some(1.0), Some(0.0)]);
        let lr = &table.columns[1];
        assert!(matches!(lr.axis, Axis::Numeric { log: true, .. }));
        assert_eq!(lr.cells[0], None);
    }

    #[test]
    fn the_space_decides_the_axes() {
        let text = "[objective]\nfunction = \"branin\"\n[search]\nalgorithm = \"random\"\n\
                    trials = 3\n[search.space]\nx1 = { float = [-5, 10] }\n\
                    x2 = { float = [0.001, 15], log = true }\n";
        let config = hypersearch_search::StudyConfig::from_toml_str(text, "t.toml").unwrap();
        let mut trials = study(false, &[1.0, 2.0]);
        for row in &mut trials.rows {
            row.params.clear();
            row.params.insert("x1".into(), ParamValue::Float(1.0));
            row.params.insert("x2".into(), ParamValue::Float(2.0));
        }
        let table = param_table(&trials, Some(&config.space));
        assert_eq!(
            table.columns[1].axis,
            Axis::Numeric {
                low: 0.001,
                high: 15.0,
                log: true,
                integer: false
            }
        );
    }
}
