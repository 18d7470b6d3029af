//! The values one parameter may take: a float or int range, or a list of choices.

use rand::{Rng, RngExt};
use serde::Serialize;

use crate::params::ParamValue;

/// A float range. `low < high`; `low > 0` when `log`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloatDomain {
    /// Smallest value.
    pub low: f64,
    /// Largest value.
    pub high: f64,
    /// Sampled and modelled on a log scale.
    pub log: bool,
    /// Values are `low + k·step` (never with `log`).
    pub step: Option<f64>,
    /// Number of points for a grid search when there is no `step` (linear or log spaced).
    pub grid_points: Option<u32>,
}

/// An integer range. `low < high`, `step ≥ 1`; `low ≥ 1` and `step = 1` when `log`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntDomain {
    /// Smallest value.
    pub low: i64,
    /// Largest value (inclusive).
    pub high: i64,
    /// Sampled and modelled on a log scale.
    pub log: bool,
    /// Values are `low + k·step`.
    pub step: i64,
}

/// The values one parameter may take.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Domain {
    /// A float range.
    Float(FloatDomain),
    /// An integer range.
    Int(IntDomain),
    /// An unordered list of distinct choices (strings, numbers, booleans).
    Categorical(Vec<ParamValue>),
}

const ON_GRID_TOLERANCE: f64 = 1e-9;

impl FloatDomain {
    /// How many values `low + k·step ≤ high` there are, when stepped.
    fn step_count(&self) -> Option<u128> {
        let step = self.step?;
        let n = ((self.high - self.low) / step + ON_GRID_TOLERANCE).floor();
        Some(n as u128 + 1)
    }

    /// The largest value actually reachable (`high` rounded down to the step).
    pub fn effective_high(&self) -> f64 {
        match (self.step, self.step_count()) {
            (Some(step), Some(n)) => self.low + (n - 1) as f64 * step,
            _ => self.high,
        }
    }

    fn contains(&self, v: f64) -> bool {
        if !v.is_finite() {
            return false;
        }
        let tol = ON_GRID_TOLERANCE * (self.high - self.low).abs().max(1.0);
        if v < self.low - tol || v > self.high + tol {
            return false;
        }
        match self.step {
            Some(step) => {
                let k = ((v - self.low) / step).round();
                (self.low + k * step - v).abs() <= tol
            }
            None => true,
        }
    }
}

impl IntDomain {
    fn count(&self) -> u128 {
        ((self.high as i128 - self.low as i128) / self.step as i128 + 1) as u128
    }

    /// The largest value actually reachable (`high` rounded down to the step).
    pub fn effective_high(&self) -> i64 {
        self.low + (self.count() as i64 - 1) * self.step
    }
}

impl Domain {
    /// Whether `value` is one of this domain's values.
    pub fn contains(&self, value: &ParamValue) -> bool {
        self.canonical(value).is_some()
    }

    /// The domain's own representation of `value` (e.g. `3` read back from JSON becomes
    /// `3.0` for a float parameter), or `None` when the value is not in the domain.
    pub fn canonical(&self, value: &ParamValue) -> Option<ParamValue> {
        match self {
            Domain::Float(d) => {
                let v = value.as_f64()?;
                if !d.contains(v) {
                    return None;
                }
                // The same formula as `value_at`, so a value read back is bit-identical.
                match (d.step, d.step_count()) {
                    (Some(step), Some(n)) => {
                        let k = ((v - d.low) / step).round().clamp(0.0, (n - 1) as f64);
                        Some(ParamValue::Float(d.low + k * step))
                    }
                    _ => Some(ParamValue::Float(v.clamp(d.low, d.high))),
                }
            }
            Domain::Int(d) => {
                let v = value.as_i64()?;
                let in_range = v >= d.low && v <= d.high && (v - d.low) % d.step == 0;
                in_range.then_some(ParamValue::Int(v))
            }
            Domain::Categorical(choices) => choices.iter().find(|c| c.same_as(value)).cloned(),
        }
    }

    /// Number of distinct values when finite (int, stepped float, categorical).
    pub fn count(&self) -> Option<u128> {
        match self {
            Domain::Float(d) => d.step_count(),
            Domain::Int(d) => Some(d.count()),
            Domain::Categorical(c) => Some(c.len() as u128),
        }
    }

    /// The `index`-th value in increasing order (choices in listed order), when finite.
    pub fn value_at(&self, index: u128) -> Option<ParamValue> {
        if index >= self.count()? {
            return None;
        }
        match self {
            Domain::Float(d) => {
                let step = d.step?;
                Some(ParamValue::Float(d.low + index as f64 * step))
            }
            Domain::Int(d) => Some(ParamValue::Int(d.low + index as i64 * d.step)),
            Domain::Categorical(c) => c.get(index as usize).cloned(),
        }
    }

    /// Number of grid-search values: [`Domain::count`], or a float's `grid_points`.
    pub fn grid_count(&self) -> Option<u128> {
        match self {
            Domain::Float(d) if d.step.is_none() => d.grid_points.map(u128::from),
            _ => self.count(),
        }
    }

    /// The `index`-th grid-search value.
    pub fn grid_value(&self, index: u128) -> Option<ParamValue> {
        match self {
            Domain::Float(d) if d.step.is_none() => {
                let n = d.grid_points? as u128;
                if index >= n {
                    return None;
                }
                let t = if n == 1 {
                    0.0
                } else {
                    index as f64 / (n - 1) as f64
                };
                let v = if d.log {
                    (d.low.ln() + t * (d.high.ln() - d.low.ln())).exp()
                } else {
                    d.low + t * (d.high - d.low)
                };
                Some(ParamValue::Float(v.clamp(d.low, d.high)))
            }
            _ => self.value_at(index),
        }
    }

    /// A value drawn uniformly (log-uniformly for log scales).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> ParamValue {
        match self {
            Domain::Float(d) => {
                if let Some(n) = d.step_count() {
                    let k = rng.random_range(0..n as u64);
                    return ParamValue::Float(d.low + k as f64 * d.step.unwrap_or(0.0));
                }
                let u: f64 = rng.random();
                let v = if d.log {
                    (d.low.ln() + u * (d.high.ln() - d.low.ln())).exp()
                } else {
                    d.low + u * (d.high - d.low)
                };
                ParamValue::Float(v.clamp(d.low, d.high))
            }
            Domain::Int(d) => {
                if d.log {
                    let lo = (d.low as f64 - 0.5).ln();
                    let hi = (d.high as f64 + 0.5).ln();
                    let u: f64 = rng.random();
                    let v = (lo + u * (hi - lo)).exp().round() as i64;
                    ParamValue::Int(v.clamp(d.low, d.high))
                } else {
                    let k = rng.random_range(0..d.count() as u64) as i64;
                    ParamValue::Int(d.low + k * d.step)
                }
            }
            Domain::Categorical(c) => c[rng.random_range(0..c.len())].clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(low: f64, high: f64, step: Option<f64>) -> Domain {
        Domain::Float(FloatDomain {
            low,
            high,
            log: false,
            step,
            grid_points: None,
        })
    }

    #[test]
    fn stepped_float_counts_and_snaps() {
        let d = float(0.0, 1.0, Some(0.25));
        assert_eq!(d.count(), Some(5));
        assert_eq!(d.value_at(4), Some(ParamValue::Float(1.0)));
        assert!(d.contains(&ParamValue::Float(0.5)));
        assert!(!d.contains(&ParamValue::Float(0.3)));
        assert_eq!(
            d.canonical(&ParamValue::Int(1)),
            Some(ParamValue::Float(1.0))
        );
        let uneven = float(0.0, 1.0, Some(0.3));
        assert_eq!(uneven.count(), Some(4));
        assert!(!uneven.contains(&ParamValue::Float(1.0)));
    }

    #[test]
    fn int_domain_respects_step() {
        let d = Domain::Int(IntDomain {
            low: 32,
            high: 256,
            log: false,
            step: 32,
        });
        assert_eq!(d.count(), Some(8));
        assert!(d.contains(&ParamValue::Int(96)));
        assert!(!d.contains(&ParamValue::Int(100)));
        assert!(d.contains(&ParamValue::Float(64.0)));
    }

    #[test]
    fn log_grid_is_geometric() {
        let d = Domain::Float(FloatDomain {
            low: 1e-4,
            high: 1e-1,
            log: true,
            step: None,
            grid_points: Some(4),
        });
        let v: Vec<f64> = (0..4)
            .map(|i| d.grid_value(i).and_then(|v| v.as_f64()).unwrap())
            .collect();
        for (got, want) in v.iter().zip([1e-4, 1e-3, 1e-2, 1e-1]) {
            assert!((got / want - 1.0).abs() < 1e-9, "{got} vs {want}");
        }
    }
}
