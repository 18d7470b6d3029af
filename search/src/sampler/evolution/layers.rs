//! A point's hidden layers as columns (`units`, `dropout`, one value per layer), so that a
//! mutation can insert or remove whole layers and the per-layer names
//! (`arch.units_3`, …) follow.

use crate::params::{ParamValue, Params};
use crate::space::SearchSpace;
use crate::space::architecture::{LAYERS, PER_LAYER, per_layer_name};

/// The hidden layers of one point.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layers {
    /// For each per-layer kind the space searches, its value in layers 1, 2, ….
    columns: Vec<(&'static str, Vec<Option<ParamValue>>)>,
    depth: usize,
}

impl Layers {
    /// The layers of `point`, or `None` when the space searches no depth or the point has
    /// none.
    pub(super) fn of(space: &SearchSpace, point: &Params) -> Option<Layers> {
        space.get(LAYERS)?;
        let depth = usize::try_from(point.get(LAYERS)?.as_i64()?).ok()?;
        let columns = PER_LAYER
            .iter()
            .filter(|kind| space.get(&per_layer_name(kind, 1)).is_some())
            .map(|&kind| {
                let values = (1..=depth)
                    .map(|k| point.get(&per_layer_name(kind, k)).cloned())
                    .collect();
                (kind, values)
            })
            .collect();
        Some(Layers { columns, depth })
    }

    /// How many hidden layers there are.
    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    /// Inserts `count` layers before layer index `at` (0-based, `at ≤ depth`), each a copy of
    /// its neighbour: the layer before it, or after it when inserted first. Copies of nothing
    /// (no layer to copy) stay empty and are drawn when the point is completed.
    pub(super) fn insert(&mut self, at: usize, count: usize) {
        let at = at.min(self.depth);
        for (_, values) in &mut self.columns {
            let neighbour = if at > 0 {
                values.get(at - 1).cloned().flatten()
            } else {
                values.first().cloned().flatten()
            };
            for _ in 0..count {
                values.insert(at, neighbour.clone());
            }
        }
        self.depth += count;
    }

    /// Removes `count` layers starting at layer index `at` (0-based).
    pub(super) fn remove(&mut self, at: usize, count: usize) {
        let at = at.min(self.depth);
        let end = (at + count).min(self.depth);
        for (_, values) in &mut self.columns {
            values.drain(at..end);
        }
        self.depth -= end - at;
    }

    /// `point` with its depth and every per-layer value replaced by these layers'.
    pub(super) fn written_into(&self, point: &Params) -> Params {
        let mut out: Params = point
            .iter()
            .filter(|(name, _)| !self.columns.iter().any(|(kind, _)| is_of_kind(name, kind)))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        out.insert(LAYERS.to_string(), ParamValue::Int(self.depth as i64));
        for (kind, values) in &self.columns {
            for (k, value) in values.iter().enumerate() {
                if let Some(v) = value {
                    out.insert(per_layer_name(kind, k + 1), v.clone());
                }
            }
        }
        out
    }
}

/// Whether `name` is a per-layer parameter of `kind` (`arch.units_2` is of `units`).
fn is_of_kind(name: &str, kind: &str) -> bool {
    let prefix = per_layer_name(kind, 0);
    let prefix = prefix.trim_end_matches('0');
    name.strip_prefix(prefix)
        .is_some_and(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(layers: &Layers) -> Vec<Vec<Option<ParamValue>>> {
        layers.columns.iter().map(|(_, v)| v.clone()).collect()
    }

    fn three_layers() -> Layers {
        Layers {
            columns: vec![
                (
                    "units",
                    vec![Some(64.into()), Some(32.into()), Some(16.into())],
                ),
                (
                    "dropout",
                    vec![Some(0.1.into()), Some(0.2.into()), Some(0.3.into())],
                ),
            ],
            depth: 3,
        }
    }

    #[test]
    fn an_inserted_layer_copies_the_one_before_it() {
        let mut layers = three_layers();
        layers.insert(2, 1);
        assert_eq!(layers.depth(), 4);
        assert_eq!(
            columns(&layers)[0],
            vec![
                Some(64.into()),
                Some(32.into()),
                Some(32.into()),
                Some(16.into())
            ]
        );
        let mut first = three_layers();
        first.insert(0, 1);
        assert_eq!(columns(&first)[1][0], Some(0.1.into()));
    }

    #[test]
    fn removing_a_layer_shifts_the_later_ones_down() {
        let mut layers = three_layers();
        layers.remove(0, 1);
        let mut point = Params::new();
        point.insert("arch.units_3".into(), 16.into());
        point.insert("lr".into(), 0.1.into());
        let written = layers.written_into(&point);
        assert_eq!(written.get("arch.layers"), Some(&ParamValue::Int(2)));
        assert_eq!(written.get("arch.units_1"), Some(&ParamValue::Int(32)));
        assert_eq!(written.get("arch.dropout_2"), Some(&ParamValue::Float(0.3)));
        assert_eq!(written.get("arch.units_3"), None);
        assert_eq!(written.get("lr"), Some(&ParamValue::Float(0.1)));
    }
}
