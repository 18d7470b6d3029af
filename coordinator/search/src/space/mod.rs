//! The search space: named parameters with their domains and conditions, and the
//! translation of a sampled point into training-config overrides.
//!
//! Layout: [`domain`] (the values one parameter may take), [`architecture`] (the names of the
//! architecture parameters and how they become `network.*` overrides).

pub mod architecture;
pub mod domain;

use std::collections::BTreeSet;

use rand::Rng;
use serde::Serialize;

use crate::error::SearchError;
use crate::params::{ParamValue, Params};
pub use domain::{Domain, FloatDomain, IntDomain};

/// When a conditional parameter exists: only while the integer parameter `parent` is at least
/// `at_least` (e.g. `arch.units_3` exists while `arch.layers ≥ 3`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The parent parameter's name (an integer-valued parameter listed before this one).
    pub parent: String,
    /// The smallest parent value for which this parameter exists.
    pub at_least: i64,
}

/// One searched parameter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamSpec {
    /// Its name in [`Params`]: a dotted training key, a free name, or `arch.*`.
    pub name: String,
    /// The values it may take.
    pub domain: Domain,
    /// `None` if it always exists, else when it does.
    pub condition: Option<Condition>,
}

/// How params become overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OverrideStyle {
    /// nn-core: names are training-config keys, `arch.*` become `network.*` keys.
    TrainingConfig,
    /// `command` and `function` objectives: the params are passed as they are.
    PassThrough,
}

/// The checked search space of a study. Parameters are ordered: a condition's parent always
/// comes before the parameters that depend on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchSpace {
    params: Vec<ParamSpec>,
    style: OverrideStyle,
}

impl SearchSpace {
    /// A space from parameters already checked by the config parser (parents first).
    pub(crate) fn new(params: Vec<ParamSpec>, style: OverrideStyle) -> Self {
        SearchSpace { params, style }
    }

    /// The parameters, parents before the parameters conditional on them.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// How params become overrides.
    pub fn override_style(&self) -> OverrideStyle {
        self.style
    }

    /// Whether `spec` exists given the (possibly partial) point `params`: an unconditional
    /// parameter always does; a conditional one when its parent is set and large enough.
    pub fn is_active(&self, spec: &ParamSpec, params: &Params) -> bool {
        match &spec.condition {
            None => true,
            Some(c) => params
                .get(&c.parent)
                .and_then(ParamValue::as_i64)
                .is_some_and(|v| v >= c.at_least),
        }
    }

    /// Checks that `params` is a point of this space (every active parameter present and in
    /// its domain, no inactive or unknown one) and returns it in canonical form.
    pub fn validate(&self, params: &Params) -> Result<Params, SearchError> {
        let mut out = Params::new();
        for spec in &self.params {
            let active = self.is_active(spec, &out);
            match (params.get(&spec.name), active) {
                (Some(v), true) => {
                    let c = spec
                        .domain
                        .canonical(v)
                        .ok_or_else(|| invalid(&spec.name, v))?;
                    out.insert(spec.name.clone(), c);
                }
                (None, true) => return Err(problem(&spec.name, "missing")),
                (Some(_), false) => {
                    return Err(problem(
                        &spec.name,
                        "set although its condition does not hold",
                    ));
                }
                (None, false) => {}
            }
        }
        if let Some(extra) = params.keys().find(|k| self.get(k).is_none()) {
            return Err(problem(extra, "not a parameter of the search space"));
        }
        Ok(out)
    }

    /// Completes a partial point: keeps the given values (checked against their domains),
    /// draws the missing active ones with `rng`, drops nothing. Fails on an unknown or
    /// out-of-domain value, or one whose condition does not hold.
    pub fn complete<R: Rng + ?Sized>(
        &self,
        partial: &Params,
        rng: &mut R,
    ) -> Result<Params, SearchError> {
        let mut out = Params::new();
        for spec in &self.params {
            let active = self.is_active(spec, &out);
            match (partial.get(&spec.name), active) {
                (Some(v), true) => {
                    let c = spec
                        .domain
                        .canonical(v)
                        .ok_or_else(|| invalid(&spec.name, v))?;
                    out.insert(spec.name.clone(), c);
                }
                (None, true) => {
                    out.insert(spec.name.clone(), spec.domain.sample(rng));
                }
                (Some(_), false) => {
                    return Err(problem(
                        &spec.name,
                        "set although its condition does not hold",
                    ));
                }
                (None, false) => {}
            }
        }
        if let Some(extra) = partial.keys().find(|k| self.get(k).is_none()) {
            return Err(problem(extra, "not a parameter of the search space"));
        }
        Ok(out)
    }

    /// A point drawn uniformly per parameter (log-uniformly on log scales), conditions obeyed.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Params {
        let mut out = Params::new();
        for spec in &self.params {
            if self.is_active(spec, &out) {
                out.insert(spec.name.clone(), spec.domain.sample(rng));
            }
        }
        out
    }

    /// The point as training-config overrides (a JSON object of dotted keys), see
    /// `docs/ARCHITECTURE.md`. For `command`/`function` objectives, the params as they are.
    pub fn overrides(&self, params: &Params) -> serde_json::Map<String, serde_json::Value> {
        match self.style {
            OverrideStyle::PassThrough => params
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
            OverrideStyle::TrainingConfig => architecture::training_overrides(params),
        }
    }

    /// A string identifying the point: equal for equal points (after [`SearchSpace::validate`]).
    pub fn point_key(params: &Params) -> String {
        serde_json::to_string(params).unwrap_or_default()
    }

    /// Number of distinct points when every parameter is discrete, else `None`.
    /// Saturates at `u128::MAX`.
    pub fn size(&self) -> Option<u128> {
        self.count_with(Domain::count)
    }

    /// Number of grid-search points (floats use `step` or `grid_points`), or `None` when a
    /// float has neither.
    pub fn grid_size(&self) -> Option<u128> {
        self.count_with(Domain::grid_count)
    }

    /// The space split into blocks, one per value of the (single) condition parent: each
    /// block lists the indices of the parameters active in it (parent excluded).
    /// Without conditions, one block with every parameter.
    pub fn blocks(&self) -> Vec<Block> {
        let parent = self
            .params
            .iter()
            .find_map(|p| p.condition.as_ref().map(|c| &c.parent));
        let Some(parent) = parent else {
            return vec![Block {
                parent_value: None,
                params: (0..self.params.len()).collect(),
            }];
        };
        let Some(parent_spec) = self.get(parent) else {
            return Vec::new();
        };
        let n = parent_spec.domain.count().unwrap_or(0);
        (0..n)
            .filter_map(|i| parent_spec.domain.value_at(i))
            .map(|value| {
                let mut point = Params::new();
                point.insert(parent.clone(), value.clone());
                let params = (0..self.params.len())
                    .filter(|&j| {
                        let spec = &self.params[j];
                        spec.name != *parent && self.is_active(spec, &point)
                    })
                    .collect();
                Block {
                    parent_value: Some(value),
                    params,
                }
            })
            .collect()
    }

    /// The `index`-th point in enumeration order (grid values when `grid`, else every
    /// distinct value): blocks in the parent's value order, then the parameters in order,
    /// the first varying slowest. `None` past the end or for a non-enumerable space.
    pub(crate) fn nth_point(
        &self,
        blocks: &[Block],
        mut index: u128,
        grid: bool,
    ) -> Option<Params> {
        let count = |d: &Domain| if grid { d.grid_count() } else { d.count() };
        for block in blocks {
            let sizes: Vec<u128> = block
                .params
                .iter()
                .map(|&j| count(&self.params[j].domain))
                .collect::<Option<_>>()?;
            let size = sizes.iter().try_fold(1u128, |a, &b| a.checked_mul(b))?;
            if index >= size {
                index -= size;
                continue;
            }
            let mut point = Params::new();
            if let (Some(parent), Some(value)) = (self.parent_name(), &block.parent_value) {
                point.insert(parent.to_string(), value.clone());
            }
            let mut rest = index;
            let mut digits = vec![0u128; sizes.len()];
            for (k, &n) in sizes.iter().enumerate().rev() {
                digits[k] = rest % n;
                rest /= n;
            }
            for (k, &j) in block.params.iter().enumerate() {
                let d = &self.params[j].domain;
                let v = if grid {
                    d.grid_value(digits[k])
                } else {
                    d.value_at(digits[k])
                }?;
                point.insert(self.params[j].name.clone(), v);
            }
            return Some(point);
        }
        None
    }

    /// Names of the condition parents (at most one: `arch.layers`).
    pub(crate) fn parent_name(&self) -> Option<&str> {
        self.params
            .iter()
            .find_map(|p| p.condition.as_ref().map(|c| c.parent.as_str()))
    }

    fn count_with(&self, count: impl Fn(&Domain) -> Option<u128>) -> Option<u128> {
        let mut total: u128 = 0;
        for block in self.blocks() {
            let mut size: u128 = 1;
            for &j in &block.params {
                size = size.saturating_mul(count(&self.params[j].domain)?);
            }
            total = total.saturating_add(size);
        }
        Some(total)
    }

    /// Names of all parameters, in order.
    pub fn names(&self) -> BTreeSet<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }
}

/// The parameters active for one value of the condition parent.
#[derive(Debug, Clone)]
pub struct Block {
    /// The parent's value (`None` when the space has no conditions).
    pub parent_value: Option<ParamValue>,
    /// Indices into [`SearchSpace::params`] of the other active parameters, in order.
    pub params: Vec<usize>,
}

fn invalid(name: &str, value: &ParamValue) -> SearchError {
    SearchError::InvalidParams {
        name: name.to_string(),
        problem: format!("{value} is not in its domain"),
    }
}

fn problem(name: &str, what: &str) -> SearchError {
    SearchError::InvalidParams {
        name: name.to_string(),
        problem: what.to_string(),
    }
}
