//! A small graph builder over the generated ONNX types: initializers from arrays (raw
//! little-endian data), nodes with attributes, and fresh value names.

use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{Dimension, dimension};
use crate::proto::type_proto::{Tensor, Value};
use crate::proto::{
    AttributeProto, GraphProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// An attribute value of a node.
pub(crate) enum Attribute {
    Int(i64),
    Float(f32),
}

/// The nodes and initializers of a graph, in the order they are added (topological: every
/// node's inputs exist before it).
#[derive(Default)]
pub(crate) struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

impl Builder {
    /// A name no other value of the graph has: `stem` and a number.
    fn fresh(&mut self, stem: &str) -> String {
        self.counter += 1;
        format!("{stem}_{}", self.counter)
    }

    /// Adds an initializer of `data_type` with `dims` and the little-endian bytes `raw`;
    /// returns its name.
    fn initializer(
        &mut self,
        stem: &str,
        data_type: DataType,
        dims: &[usize],
        raw: Vec<u8>,
    ) -> String {
        let name = self.fresh(stem);
        self.initializers.push(TensorProto {
            name: Some(name.clone()),
            data_type: Some(data_type as i32),
            dims: dims.iter().map(|&d| d as i64).collect(),
            raw_data: Some(raw),
            ..Default::default()
        });
        name
    }

    /// An f32 initializer (`dims` empty: a scalar).
    pub(crate) fn floats(
        &mut self,
        stem: &str,
        dims: &[usize],
        values: impl IntoIterator<Item = f32>,
    ) -> String {
        let raw = values.into_iter().flat_map(f32::to_le_bytes).collect();
        self.initializer(stem, DataType::Float, dims, raw)
    }

    /// An int8 initializer.
    pub(crate) fn int8s(
        &mut self,
        stem: &str,
        dims: &[usize],
        values: impl IntoIterator<Item = i8>,
    ) -> String {
        let raw = values.into_iter().flat_map(i8::to_le_bytes).collect();
        self.initializer(stem, DataType::Int8, dims, raw)
    }

    /// An int32 initializer.
    pub(crate) fn int32s(
        &mut self,
        stem: &str,
        dims: &[usize],
        values: impl IntoIterator<Item = i32>,
    ) -> String {
        let raw = values.into_iter().flat_map(i32::to_le_bytes).collect();
        self.initializer(stem, DataType::Int32, dims, raw)
    }

    /// Adds a node of `op` on `inputs` with one output, named `output` or a fresh name from
    /// `op`; returns the output's name.
    pub(crate) fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attributes: &[(&str, Attribute)],
        output: Option<&str>,
    ) -> String {
        let output = output.map_or_else(|| self.fresh(op), str::to_string);
        let attribute = attributes
            .iter()
            .map(|(name, value)| match value {
                Attribute::Int(i) => AttributeProto {
                    name: Some((*name).to_string()),
                    r#type: Some(AttributeType::Int as i32),
                    i: Some(*i),
                    ..Default::default()
                },
                Attribute::Float(f) => AttributeProto {
                    name: Some((*name).to_string()),
                    r#type: Some(AttributeType::Float as i32),
                    f: Some(*f),
                    ..Default::default()
                },
            })
            .collect();
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| (*s).to_string()).collect(),
            output: vec![output.clone()],
            name: Some(name),
            op_type: Some(op.to_string()),
            attribute,
            ..Default::default()
        });
        output
    }

    /// The finished graph, with one f32 input and one f32 output of shape `[batch, width]`.
    pub(crate) fn graph(
        self,
        input: (&str, usize),
        output: (&str, usize),
        doc: &str,
    ) -> GraphProto {
        GraphProto {
            name: Some("hypersearch".to_string()),
            node: self.nodes,
            initializer: self.initializers,
            input: vec![batch_of(input.0, input.1)],
            output: vec![batch_of(output.0, output.1)],
            doc_string: Some(doc.to_string()),
            ..Default::default()
        }
    }
}

/// A value of type f32 `[batch, width]`, the batch size left open.
fn batch_of(name: &str, width: usize) -> ValueInfoProto {
    let dim = |value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(Value::TensorType(Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: vec![
                        dim(dimension::Value::DimParam("batch".to_string())),
                        dim(dimension::Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}
