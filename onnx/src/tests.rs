//! The written graphs decoded again: versions, the operators in order, and the parameters
//! bit for bit. (That onnxruntime runs them to hypersearch's predictions is the end-to-end
//! test `onnx_export` of the root crate.)

use nn_core::ndarray::{Array1, Array2, array};

use super::*;

fn model(residual: bool, activation: Activation) -> Model {
    let standardization = Standardization {
        mean: array![1.0, 2.0, 3.0],
        scale: array![0.5, 0.25, 2.0],
    };
    let hidden = vec![DenseLayer {
        weights: Array2::from_shape_fn((3, 3), |(r, c)| (r * 3 + c) as f32 / 10.0 - 0.4),
        bias: array![0.1, -0.2, 0.3],
        residual,
    }];
    let output = DenseLayer {
        weights: Array2::from_shape_fn((2, 3), |(r, c)| (r + c) as f32 / 5.0 - 0.3),
        bias: array![0.05, -0.05],
        residual: false,
    };
    Model::new(standardization, hidden, output, activation).unwrap_or_else(|e| panic!("{e}"))
}

fn decoded(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).unwrap_or_else(|e| panic!("{e}"))
}

fn ops(m: &ModelProto) -> Vec<String> {
    m.graph
        .iter()
        .flat_map(|g| &g.node)
        .map(|n| n.op_type().to_string())
        .collect()
}

fn initializer<'a>(m: &'a ModelProto, stem: &str) -> Vec<&'a proto::TensorProto> {
    m.graph
        .iter()
        .flat_map(|g| &g.initializer)
        .filter(|t| {
            t.name()
                .strip_prefix(&format!("{stem}_"))
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect()
}

#[test]
fn an_f32_model_is_standardization_gemms_and_softmax_at_opset_13() {
    let m = decoded(&fp32(&model(true, Activation::Swish)));
    assert_eq!((m.ir_version(), m.opset_import[0].version()), (7, 13));
    assert_eq!(
        ops(&m),
        [
            "Sub", "Mul", "Gemm", "Sigmoid", "Mul", "Add", "Gemm", "Softmax"
        ]
    );
    let graph = m.graph.as_ref().unwrap_or_else(|| panic!("no graph"));
    assert_eq!(graph.input[0].name(), INPUT);
    assert_eq!(graph.output[0].name(), OUTPUT);
    let weights = initializer(&m, "weights");
    assert_eq!(weights[1].dims, [2, 3]);
    let raw: Vec<f32> = weights[1]
        .raw_data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(
        raw,
        model(true, Activation::Swish)
            .output()
            .weights
            .iter()
            .copied()
            .collect::<Vec<_>>()
    );
    let gemm = graph
        .node
        .iter()
        .find(|n| n.op_type() == "Gemm")
        .unwrap_or_else(|| panic!("no Gemm"));
    assert_eq!(
        (gemm.attribute[0].name(), gemm.attribute[0].i()),
        ("transB", 1)
    );
}

#[test]
fn an_int8_model_dequantizes_int8_weights_and_int32_biases_per_channel() {
    let m = model(false, Activation::Gelu);
    let calibration =
        Array2::from_shape_fn((8, 3), |(r, c)| (r as f32 - 4.0) * (c as f32 + 1.0) / 4.0);
    let q = QuantizedModel::calibrate(&m, calibration.view()).unwrap_or_else(|e| panic!("{e}"));
    let p = decoded(&int8(&q));
    let ops = ops(&p);
    assert_eq!(ops.iter().filter(|o| *o == "QuantizeLinear").count(), 2);
    assert_eq!(
        ops.iter().filter(|o| *o == "DequantizeLinear").count(),
        2 + 4
    );
    assert!(ops.contains(&"Erf".to_string()));
    assert_eq!(ops.last().map(String::as_str), Some("Softmax"));
    let weights = initializer(&p, "weights");
    assert_eq!(
        weights[0].data_type(),
        proto::tensor_proto::DataType::Int8 as i32
    );
    let bytes: Vec<i8> = weights[0].raw_data().iter().map(|&b| b as i8).collect();
    assert_eq!(
        bytes,
        q.hidden()[0].weights.iter().copied().collect::<Vec<_>>()
    );
    let bias = initializer(&p, "bias");
    assert_eq!(
        bias[1].data_type(),
        proto::tensor_proto::DataType::Int32 as i32
    );
    let back: Array1<i32> = bias[1]
        .raw_data()
        .chunks_exact(4)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(back, q.output().bias);
    let dequantize = p
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .find(|n| n.op_type() == "DequantizeLinear" && !n.attribute.is_empty());
    assert_eq!(
        dequantize.map(|n| (n.attribute[0].name(), n.attribute[0].i())),
        Some(("axis", 0))
    );
}
