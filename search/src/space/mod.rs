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

/// What a condition's parent must be for its clause to hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Requirement {
    /// An integer at least this large (`arch.units_3` exists while `arch.layers ≥ 3`).
    AtLeast(i64),
    /// One of these values (`when = { "training.optimizer" = ["momentum", "adamw"] }`).
    OneOf(Vec<ParamValue>),
}

/// One clause of a condition: the parameter `parent` exists and meets `requirement`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clause {
    /// The parent parameter's name (a parameter that comes before this one in the space).
    pub parent: String,
    /// What the parent's value must be.
    pub requirement: Requirement,
}

/// When a conditional parameter exists: while every clause holds. A clause whose parent is
/// itself absent does not hold, so conditions nest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Condition {
    /// The clauses, all of which must hold.
    pub clauses: Vec<Clause>,
}

impl Condition {
    /// The condition `parent ≥ at_least` (the architecture's per-layer parameters).
    pub fn at_least(parent: &str, at_least: i64) -> Self {
        Condition {
            clauses: vec![Clause {
                parent: parent.to_string(),
                requirement: Requirement::AtLeast(at_least),
            }],
        }
    }

    /// Whether every clause holds in the (possibly partial) point `params`.
    pub fn holds(&self, params: &Params) -> bool {
        self.clauses.iter().all(|clause| {
            let Some(value) = params.get(&clause.parent) else {
                return false;
            };
            match &clause.requirement {
                Requirement::AtLeast(n) => value.as_i64().is_some_and(|v| v >= *n),
                Requirement::OneOf(values) => values.iter().any(|v| v.same_as(value)),
            }
        })
    }

    /// The names of the parameters this condition reads.
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().map(|c| c.parent.as_str())
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, clause) in self.clauses.iter().enumerate() {
            if i > 0 {
                write!(f, " and ")?;
            }
            match &clause.requirement {
                Requirement::AtLeast(n) => write!(f, "`{}` ≥ {n}", clause.parent)?,
                Requirement::OneOf(values) if values.len() == 1 => {
                    write!(f, "`{}` = {}", clause.parent, values[0])?;
                }
                Requirement::OneOf(values) => {
                    let list: Vec<String> = values.iter().map(ToString::to_string).collect();
                    write!(f, "`{}` in [{}]", clause.parent, list.join(", "))?;
                }
            }
        }
        Ok(())
    }
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

/// The checked search space of a study. Parameters are ordered: a condition's parents always
/// come before the parameters that depend on them, and are enumerable (int or choice).
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
    /// parameter always does; a conditional one when its condition holds.
    pub fn is_active(&self, spec: &ParamSpec, params: &Params) -> bool {
        spec.condition.as_ref().is_none_or(|c| c.holds(params))
    }

    /// Checks that `params` is a point of this space (every active parameter present and in
    /// its domain, no inactive or unknown one) and returns it in canonical form.
    pub fn validate(&self, params: &Params) -> Result<Params, SearchError> {
        self.checked(params, |spec| Err(problem(&spec.name, "missing")))
    }

    /// Completes a partial point: keeps the given values (checked against their domains),
    /// draws the missing active ones with `rng`, drops nothing. Fails on an unknown or
    /// out-of-domain value, or one whose condition does not hold.
    pub fn complete<R: Rng + ?Sized>(
        &self,
        partial: &Params,
        rng: &mut R,
    ) -> Result<Params, SearchError> {
        self.checked(partial, |spec| Ok(spec.domain.sample(rng)))
    }

    /// `given` in canonical form, checked against the space (each given value in its domain,
    /// none inactive or unknown), with `missing` giving each active parameter not given (in
    /// the space's order) or the error that ends the check.
    fn checked(
        &self,
        given: &Params,
        mut missing: impl FnMut(&ParamSpec) -> Result<ParamValue, SearchError>,
    ) -> Result<Params, SearchError> {
        let mut out = Params::new();
        for spec in &self.params {
            let active = self.is_active(spec, &out);
            match (given.get(&spec.name), active) {
                (Some(v), true) => {
                    let c = spec
                        .domain
                        .canonical(v)
                        .ok_or_else(|| invalid(&spec.name, v))?;
                    out.insert(spec.name.clone(), c);
                }
                (None, true) => {
                    out.insert(spec.name.clone(), missing(spec)?);
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
        if let Some(extra) = given.keys().find(|k| self.get(k).is_none()) {
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

    /// The space split into blocks, one per combination of the condition parents' values
    /// (a parent whose own condition fails is absent): each block lists the indices of the
    /// other parameters active in it. Without conditions, one block with every parameter.
    /// Empty when a parent is not enumerable (the config refuses such a space).
    pub fn blocks(&self) -> Vec<Block> {
        let parents = self.parent_indices();
        let mut blocks = Vec::new();
        let mut point = Params::new();
        let mut chosen = Vec::new();
        self.enumerate_blocks(&parents, 0, &mut point, &mut chosen, &mut blocks);
        blocks
    }

    /// Indices of the parameters some condition reads, in order.
    fn parent_indices(&self) -> Vec<usize> {
        let parents: BTreeSet<&str> = self
            .params
            .iter()
            .filter_map(|p| p.condition.as_ref())
            .flat_map(Condition::parents)
            .collect();
        (0..self.params.len())
            .filter(|&j| parents.contains(self.params[j].name.as_str()))
            .collect()
    }

    fn enumerate_blocks(
        &self,
        parents: &[usize],
        next: usize,
        point: &mut Params,
        chosen: &mut Vec<(usize, ParamValue)>,
        out: &mut Vec<Block>,
    ) {
        let Some(&first) = parents.get(next) else {
            let params = (0..self.params.len())
                .filter(|j| !parents.contains(j) && self.is_active(&self.params[*j], point))
                .collect();
            out.push(Block {
                parents: chosen.clone(),
                params,
            });
            return;
        };
        let spec = &self.params[first];
        if !self.is_active(spec, point) {
            self.enumerate_blocks(parents, next + 1, point, chosen, out);
            return;
        }
        let Some(count) = spec.domain.count() else {
            return;
        };
        for i in 0..count {
            let Some(value) = spec.domain.value_at(i) else {
                return;
            };
            point.insert(spec.name.clone(), value.clone());
            chosen.push((first, value));
            self.enumerate_blocks(parents, next + 1, point, chosen, out);
            chosen.pop();
            point.remove(&spec.name);
        }
    }

    /// The `index`-th point in enumeration order (grid values when `grid`, else every
    /// distinct value): blocks in the parents' value order (the first parent slowest), then the parameters in order,
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
            for (j, value) in &block.parents {
                point.insert(self.params[*j].name.clone(), value.clone());
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

/// The parameters active for one combination of the condition parents' values.
#[derive(Debug, Clone)]
pub struct Block {
    /// The present condition parents, as (index into [`SearchSpace::params`], value).
    pub parents: Vec<(usize, ParamValue)>,
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
