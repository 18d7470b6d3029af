"""Checks an ONNX model `hypersearch train --onnx` wrote against the predictions
`hypersearch train --predictions` wrote for the same run (tests/onnx.rs runs it).

usage: onnx_check.py MODEL PREDICTIONS DATA_CSV_GZ fp32
       onnx_check.py MODEL PREDICTIONS DATA_CSV_GZ int8 REPORTED_INT8_ACCURACY
       onnx_check.py MODEL PREDICTIONS DATA_CSV_GZ int8-as-written REPORTED_INT8_ACCURACY

DATA_CSV_GZ is the data set the run trained on, as a gzipped CSV of raw pixels with the label
last (nn-core/data/digits.csv.gz); the predictions' `row` column indexes it. The model gets
the raw pixels: its graph standardizes them itself.

- always: onnx.checker.check_model(full_check=True), IR 7, opset 13;
- fp32: onnxruntime's argmax equals hypersearch's on every sample, probabilities within 1e-5;
- int8: onnxruntime's accuracy equals the reported int8 accuracy, with its graph
  optimizations on (QDQ fused into integer kernels) and off (the QDQ operators as written);
- int8-as-written: the same with the optimizations off only (the fused kernels of
  onnxruntime on a CPU without AVX-VNNI can saturate int8 x int8 sums, so their accuracy is
  reported but not required to match).
Prints a JSON summary; exits 1 when a check fails.
"""
import csv
import gzip
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def run(model_path, x, optimize):
    options = ort.SessionOptions()
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"pixels": x})[0]


def main():
    model_path, predictions_path, data_path, mode = sys.argv[1:5]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    opsets = {o.domain: o.version for o in model.opset_import}
    summary = {"ir_version": model.ir_version, "opset": opsets.get("", None)}
    failures = []
    if model.ir_version != 7 or opsets != {"": 13}:
        failures.append(f"IR {model.ir_version}, opsets {opsets}: expected IR 7, opset 13")

    with gzip.open(data_path, "rt") as f:
        data = np.array([[float(v) for v in line.split(",")] for line in f if line.strip()], dtype=np.float32)
    with open(predictions_path, newline="") as f:
        rows = list(csv.DictReader(f))
    index = [int(r["row"]) for r in rows]
    labels = np.array([int(r["label"]) for r in rows])
    if not np.array_equal(labels, data[index, -1].astype(int)):
        failures.append("the predictions' labels are not the data set's")
    x = np.ascontiguousarray(data[index, :-1])
    summary["samples"] = len(rows)

    if mode == "fp32":
        classes = sum(1 for k in rows[0] if k.startswith("p_"))
        ours = np.array([[float(r[f"p_{c}"]) for c in range(classes)] for r in rows], dtype=np.float32)
        ours_class = np.array([int(r["predicted"]) for r in rows])
        theirs = run(model_path, x, optimize=True)
        difference = float(np.abs(theirs - ours).max())
        same = int((theirs.argmax(axis=1) == ours_class).sum())
        summary.update(max_probability_difference=difference, same_argmax=same)
        if same != len(rows):
            failures.append(f"argmax differs on {len(rows) - same} of {len(rows)} samples")
        if difference > 1e-5:
            failures.append(f"probabilities differ by up to {difference} (more than 1e-5)")
    else:
        reported = float(sys.argv[5])
        ours_class = np.array([int(r["int8_predicted"]) for r in rows])
        summary["reported_accuracy"] = reported
        for optimize in (True, False):
            predicted = run(model_path, x, optimize).argmax(axis=1)
            correct = int((predicted == labels).sum())
            key = "optimized" if optimize else "unoptimized"
            summary[f"{key}_accuracy"] = correct / len(rows)
            summary[f"{key}_agreement"] = int((predicted == ours_class).sum())
            required = mode == "int8" or not optimize
            if required and correct != round(reported * len(rows)):
                failures.append(f"{key}: {correct} of {len(rows)} right, reported {reported}")
    summary["failures"] = failures
    print(json.dumps(summary))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
