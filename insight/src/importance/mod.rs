//! Which parameters decide whether a trial is among the best: PED-ANOVA (Watanabe et al.,
//! IJCAI 2023, arXiv 2304.10255) with conditional parameters handled by regimes
//! (condPED-ANOVA, KDD 2026, arXiv 2601.20800), as Optuna 5 computes it by default.
//!
//! For each parameter, the distribution of its values among the top [`TARGET_QUANTILE`] of
//! the complete trials is compared with its distribution among all of them (the region;
//! Optuna's `region_quantile = 1.0`): the Pearson divergence between the two Parzen
//! estimates ([`parzen`]). A parameter whose best trials look like all trials does not
//! matter; one whose best trials bunch up somewhere does.
//!
//! A conditional parameter (`arch.units_3` exists only while `arch.layers ≥ 3`) is measured
//! on the trials where it exists, and that divergence is weighted by α²/β, α the share of
//! top trials where it exists and β the share of all trials: a parameter present in every
//! top trial but only half of all trials counts double, one rarely present among the best
//! counts little. Its absence carries no importance of its own (the parent's values already
//! carry it). Fewer than two trials with it: importance 0.
//!
//! Importances are normalized to sum to 1 (Optuna's `get_param_importances` default); when
//! no parameter stands out at all, each gets an equal share, as in Optuna.

pub mod parzen;

use std::collections::BTreeSet;

use hypersearch_search::{Domain, ParamValue, SearchSpace};
use serde::Serialize;

use crate::{Error, StudyTrials, TrialRow};
use parzen::Scale;

/// The top share of complete trials whose parameters are compared with all trials'
/// (Optuna's `target_quantile`).
pub const TARGET_QUANTILE: f64 = 0.1;
/// The fewest complete trials [`importance`] accepts.
pub const MIN_TRIALS: usize = 10;
/// The fewest trials with a conditional parameter for it to be measured.
const MIN_TRIALS_IN_REGIME: usize = 2;

/// How much one parameter decides whether a trial is among the best.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// The parameter's name.
    pub parameter: String,
    /// Its share of the total importance, in `[0, 1]`; all parameters' sum to 1.
    pub importance: f64,
    /// Spearman's rank correlation of its value with how good the trial was: `+1` when a
    /// higher value always gave a better trial, `−1` when always a worse one. `None` for a
    /// categorical parameter, or when the parameter or the values do not vary.
    pub correlation: Option<f64>,
    /// The complete trials it was measured on (those where it exists).
    pub trials: usize,
}

/// The importance of each parameter of the complete trials of `trials`, most important
/// first (ties by name). `space`, the study's search space, gives each parameter's range,
/// its log scale and whether it is an int or a choice; without it (or for a parameter it
/// does not name) the range is that of the values seen, linear, and a parameter is a
/// choice when any of its values is not a number.
///
/// # Errors
///
/// [`Error::TooFewTrials`] when the study has fewer than [`MIN_TRIALS`] complete trials.
pub fn importance(
    trials: &StudyTrials,
    space: Option<&SearchSpace>,
) -> Result<Vec<Importance>, Error> {
    // Lower is better from here on.
    let complete: Vec<(&TrialRow, f64)> = trials
        .complete()
        .filter_map(|row| Some((row, row.value?)))
        .map(|(row, value)| (row, if trials.maximize { -value } else { value }))
        .collect();
    if complete.len() < MIN_TRIALS {
        return Err(Error::TooFewTrials {
            study: trials.study.clone(),
            needed: MIN_TRIALS,
            found: complete.len(),
        });
    }
    let losses: Vec<f64> = complete.iter().map(|(_, loss)| *loss).collect();
    let top = top_quantile(&losses, TARGET_QUANTILE);
    let top_count = top.iter().filter(|t| **t).count();
    let names: BTreeSet<&str> = complete
        .iter()
        .flat_map(|(row, _)| row.params.keys().map(String::as_str))
        .collect();

    let mut found: Vec<Importance> = names
        .into_iter()
        .map(|name| {
            let values: Vec<(usize, &ParamValue)> = complete
                .iter()
                .enumerate()
                .filter_map(|(at, (row, _))| Some((at, row.params.get(name)?)))
                .collect();
            let spec = space.and_then(|space| space.get(name)).map(|p| &p.domain);
            let column = Column::new(spec, &values);
            // The trials where the parameter exists, as (bin, among the top?).
            let region: Vec<(usize, bool)> = column
                .bins
                .iter()
                .map(|(at, bin)| (*bin, top[*at]))
                .collect();
            let divergence = match &column.scale {
                Some(scale) if region.len() >= MIN_TRIALS_IN_REGIME => {
                    let all: Vec<usize> = region.iter().map(|(bin, _)| *bin).collect();
                    let best: Vec<usize> = region.iter().filter(|r| r.1).map(|r| r.0).collect();
                    if best.is_empty() {
                        0.0
                    } else {
                        // Theorem 4.2 of condPED-ANOVA: α²/β times the regime's divergence
                        // (Optuna's common factor (top/region)² is dropped by normalizing).
                        let alpha = best.len() as f64 / top_count as f64;
                        let beta = all.len() as f64 / complete.len() as f64;
                        alpha * alpha / beta * parzen::pearson_divergence(scale, &best, &all)
                    }
                }
                _ => 0.0,
            };
            let correlation = column.numbers.as_ref().and_then(|numbers| {
                let pairs: Vec<(f64, f64)> = numbers
                    .iter()
                    .map(|(at, number)| (*number, -losses[*at]))
                    .collect();
                spearman(&pairs)
            });
            Importance {
                parameter: name.to_string(),
                importance: divergence,
                correlation,
                trials: region.len(),
            }
        })
        .collect();

    let total: f64 = found.iter().map(|i| i.importance).sum();
    let share = 1.0 / found.len().max(1) as f64;
    for item in &mut found {
        item.importance = if total > 0.0 && total.is_finite() {
            item.importance / total
        } else {
            share
        };
    }
    found.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then_with(|| a.parameter.cmp(&b.parameter))
    });
    Ok(found)
}

/// Which of `losses` are within the best `quantile` (lower is better): those no worse than
/// the ⌈quantile·n⌉-th smallest, ties included.
fn top_quantile(losses: &[f64], quantile: f64) -> Vec<bool> {
    let mut sorted = losses.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cutoff_index = ((quantile * losses.len() as f64).ceil() as usize).saturating_sub(1);
    let cutoff = sorted.get(cutoff_index).copied().unwrap_or(f64::INFINITY);
    losses.iter().map(|loss| *loss <= cutoff).collect()
}

/// One parameter's values in the complete trials where it exists.
struct Column {
    /// How its values become bins; `None` when it has a single possible value.
    scale: Option<Scale>,
    /// `(trial index, bin)` for each trial where it exists with a value of its kind.
    bins: Vec<(usize, usize)>,
    /// `(trial index, value)` when it is numeric.
    numbers: Option<Vec<(usize, f64)>>,
}

impl Column {
    /// The column of `values` (`(trial index, value)`), binned by `domain` when known.
    fn new(domain: Option<&Domain>, values: &[(usize, &ParamValue)]) -> Column {
        let all_numbers = values.iter().all(|(_, v)| v.as_f64().is_some());
        match domain {
            Some(Domain::Float(d)) => {
                let high = d.effective_high();
                let distinct = d.step.map(|step| ((high - d.low) / step).round() + 1.0);
                Column::numeric(Scale::numeric(d.low, high, d.log, distinct), values)
            }
            Some(Domain::Int(d)) => {
                let high = d.effective_high();
                let span = (high - d.low) as f64;
                // Optuna gives a log-scaled int one bin per doubling.
                let distinct = if d.log {
                    ((span + 1.0).ln() / 2f64.ln()).ceil() + 1.0
                } else {
                    (span / d.step as f64).round() + 1.0
                };
                let scale = Scale::numeric(d.low as f64, high as f64, d.log, Some(distinct));
                Column::numeric(scale, values)
            }
            Some(Domain::Categorical(choices)) => Column::categorical(choices.clone(), values),
            None if all_numbers => {
                let numbers = values.iter().filter_map(|(_, v)| v.as_f64());
                let low = numbers.clone().fold(f64::INFINITY, f64::min);
                let high = numbers.fold(f64::NEG_INFINITY, f64::max);
                let ints = values.iter().all(|(_, v)| matches!(v, ParamValue::Int(_)));
                let distinct = ints.then_some(high - low + 1.0);
                Column::numeric(Scale::numeric(low, high, false, distinct), values)
            }
            None => Column::categorical(Vec::new(), values),
        }
    }

    fn numeric(scale: Option<Scale>, values: &[(usize, &ParamValue)]) -> Column {
        let numbers: Vec<(usize, f64)> = values
            .iter()
            .filter_map(|(at, v)| Some((*at, v.as_f64()?)))
            .collect();
        let bins = match &scale {
            Some(scale) => numbers
                .iter()
                .map(|(at, v)| (*at, scale.bin_of(*v)))
                .collect(),
            None => Vec::new(),
        };
        Column {
            scale,
            bins,
            numbers: Some(numbers),
        }
    }

    /// A choice column; values not among `choices` (a study whose space changed) are added.
    fn categorical(mut choices: Vec<ParamValue>, values: &[(usize, &ParamValue)]) -> Column {
        let mut bins = Vec::with_capacity(values.len());
        for (at, value) in values {
            let index = match choices.iter().position(|c| c.same_as(value)) {
                Some(index) => index,
                None => {
                    choices.push((*value).clone());
                    choices.len() - 1
                }
            };
            bins.push((*at, index));
        }
        let scale = (choices.len() >= 2).then_some(Scale::Categorical {
            choices: choices.len(),
        });
        Column {
            scale,
            bins,
            numbers: None,
        }
    }
}

/// Spearman's rank correlation of the pairs (ties get their average rank); `None` for fewer
/// than two pairs or when either side does not vary.
fn spearman(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let xs = ranks(pairs.iter().map(|p| p.0));
    let ys = ranks(pairs.iter().map(|p| p.1));
    let mean = (pairs.len() as f64 + 1.0) / 2.0;
    let (mut xy, mut xx, mut yy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(&ys) {
        xy += (x - mean) * (y - mean);
        xx += (x - mean).powi(2);
        yy += (y - mean).powi(2);
    }
    (xx > 0.0 && yy > 0.0).then(|| xy / (xx * yy).sqrt())
}

/// The 1-based rank of each value, ties averaged.
fn ranks(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let values: Vec<f64> = values.collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        for &at in &order[start..end] {
            ranks[at] = rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests;
