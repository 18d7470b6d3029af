//! Mutations that understand the architecture space: a child is its parent with exactly one
//! thing changed, chosen uniformly among the kinds of change the parent allows:
//!
//! - add hidden layers (the next larger depth the space allows), copies of a neighbour,
//!   inserted at a random place;
//! - remove hidden layers (the next smaller depth) at a random place;
//! - one layer's width, doubled or halved (the next larger or smaller choice);
//! - one layer's dropout, a Gaussian step;
//! - the activation, batch norm or residual connections, another choice;
//! - one other hyperparameter: a Gaussian step in the (log-)scaled unit interval for
//!   numbers, another choice for a categorical (see `step`).
//!
//! Parameters that exist only under a condition follow their parents: those whose
//! condition stops holding are dropped, those whose condition starts holding are drawn.

use rand::{Rng, RngExt};

use super::layers::Layers;
use super::step::{nearby, wider_or_narrower};
use crate::params::{ParamValue, Params};
use crate::space::SearchSpace;
use crate::space::architecture::{LAYERS, NETWORK_WIDE, PREFIX, network_wide_name, per_layer_name};

/// One kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// More hidden layers.
    AddLayers,
    /// Fewer hidden layers.
    RemoveLayers,
    /// One layer's `kind` (`units` or `dropout`).
    Layer(&'static str),
    /// A network-wide architecture parameter (`activation`, `batch_norm`, `residual`).
    NetworkWide(&'static str),
    /// One of the other parameters.
    Hyperparameter,
}

/// `parent` with exactly one change, fitting `space`, or `None` when no parameter of the
/// parent can take another value.
pub(super) fn mutate<R: Rng + ?Sized>(
    space: &SearchSpace,
    parent: &Params,
    rng: &mut R,
) -> Option<Params> {
    let changes = possible_changes(space, parent);
    if changes.is_empty() {
        return None;
    }
    let change = changes[rng.random_range(0..changes.len())];
    let changed = apply(space, parent, change, rng)?;
    space.validate(&completed(space, &changed, rng)).ok()
}

/// The kinds of change `parent` allows.
fn possible_changes(space: &SearchSpace, parent: &Params) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(layers) = Layers::of(space, parent) {
        if next_depth(space, layers.depth(), true).is_some() {
            out.push(Change::AddLayers);
        }
        if next_depth(space, layers.depth(), false).is_some() {
            out.push(Change::RemoveLayers);
        }
        for kind in ["units", "dropout"] {
            if layers.depth() > 0 && movable(space, &per_layer_name(kind, 1)) {
                out.push(Change::Layer(kind));
            }
        }
    }
    for kind in NETWORK_WIDE {
        let name = network_wide_name(kind);
        if parent.contains_key(&name) && movable(space, &name) {
            out.push(Change::NetworkWide(kind));
        }
    }
    if !hyperparameters(space, parent).is_empty() {
        out.push(Change::Hyperparameter);
    }
    out
}

/// Whether parameter `name` has more than one value.
fn movable(space: &SearchSpace, name: &str) -> bool {
    space
        .get(name)
        .is_some_and(|spec| spec.domain.count().is_none_or(|n| n > 1))
}

/// The parent's parameters outside the architecture that can take another value.
fn hyperparameters<'a>(space: &SearchSpace, parent: &'a Params) -> Vec<&'a String> {
    parent
        .keys()
        .filter(|name| !name.starts_with(PREFIX) && movable(space, name))
        .collect()
}

/// The depth next to `depth` the space allows, above it when `up`, else below.
fn next_depth(space: &SearchSpace, depth: usize, up: bool) -> Option<usize> {
    let domain = &space.get(LAYERS)?.domain;
    let depth = depth as i64;
    let depths = (0..domain.count()?).filter_map(|i| domain.value_at(i)?.as_i64());
    let next = if up {
        depths.filter(|&d| d > depth).min()
    } else {
        depths.filter(|&d| d < depth).max()
    };
    usize::try_from(next?).ok()
}

/// `parent` with `change` made (conditional parameters not yet brought in line).
fn apply<R: Rng + ?Sized>(
    space: &SearchSpace,
    parent: &Params,
    change: Change,
    rng: &mut R,
) -> Option<Params> {
    let mut child = parent.clone();
    match change {
        Change::AddLayers | Change::RemoveLayers => {
            let mut layers = Layers::of(space, parent)?;
            let depth = layers.depth();
            let next = next_depth(space, depth, change == Change::AddLayers)?;
            if next > depth {
                layers.insert(rng.random_range(0..=depth), next - depth);
            } else {
                layers.remove(rng.random_range(0..=next), depth - next);
            }
            child = layers.written_into(parent);
        }
        Change::Layer(kind) => {
            let depth = Layers::of(space, parent)?.depth();
            let name = per_layer_name(kind, rng.random_range(1..=depth));
            let moved = if kind == "units" {
                let domain = &space.get(&name)?.domain;
                let current = parent.get(&name)?;
                wider_or_narrower(domain, current, rng).or_else(|| nearby(domain, current, rng))
            } else {
                moved(space, parent, &name, rng)
            };
            child.insert(name, moved?);
        }
        Change::NetworkWide(kind) => {
            let name = network_wide_name(kind);
            let value = moved(space, parent, &name, rng)?;
            child.insert(name, value);
        }
        Change::Hyperparameter => {
            let names = hyperparameters(space, parent);
            let name = names[rng.random_range(0..names.len())].clone();
            let value = moved(space, parent, &name, rng)?;
            child.insert(name, value);
        }
    }
    Some(child)
}

/// Another value of parameter `name` near the parent's.
fn moved<R: Rng + ?Sized>(
    space: &SearchSpace,
    parent: &Params,
    name: &str,
    rng: &mut R,
) -> Option<ParamValue> {
    nearby(&space.get(name)?.domain, parent.get(name)?, rng)
}

/// `point` made a point of `space`: in the space's order, each active parameter keeps its
/// value when it has one in its domain and is drawn otherwise; inactive and unknown ones
/// are dropped.
pub(super) fn completed<R: Rng + ?Sized>(
    space: &SearchSpace,
    point: &Params,
    rng: &mut R,
) -> Params {
    let mut out = Params::new();
    for spec in space.params() {
        if !space.is_active(spec, &out) {
            continue;
        }
        let value = point
            .get(&spec.name)
            .and_then(|v| spec.domain.canonical(v))
            .unwrap_or_else(|| spec.domain.sample(rng));
        out.insert(spec.name.clone(), value);
    }
    out
}
