#!/usr/bin/env bash
# Training-core benchmark: nn-core against PyTorch (CPU), scikit-learn and hand-written numpy
# on Fashion-MNIST, 784-256-128-10 ReLU, batch 128, Adam 1e-3, 1 thread, side by side in one
# run; then the GEMM peak of one core. Prints a markdown table (BENCHMARKS.md).
#
#   bash bench/train-bench.sh                 # 10 epochs, /usr/share/datasets/fashion-mnist
#   EPOCHS=3 DATA=/path/to/idx bash bench/train-bench.sh
#
# Needs: python3 with numpy, torch, scikit-learn; the Fashion-MNIST IDX files.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${EPOCHS:-10}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
cargo build --release -q -p nn-core --example bench_mlp --example bench_gemm
BIN=${CARGO_TARGET_DIR:-target}/release/examples
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
ours() { "$BIN/bench_mlp" --data "$DATA" --epochs "$EPOCHS" --variant "$1" >>"$OUT"; }
peer() { python3 "bench/peers/$1_mlp.py" --data "$DATA" --epochs "$EPOCHS" --variant "$2" >>"$OUT"; }
# Interleaved, so that a busy neighbour on the shared machine slows every contestant alike.
ours plain
peer numpy plain
peer torch plain
peer sklearn plain
ours bn-dropout
peer torch bn-dropout
"$BIN/bench_gemm" | tail -n 1 | python3 -c 'import json,sys; print(json.dumps({"gemm": json.load(sys.stdin)}))' >>"$OUT"
python3 bench/peers/table.py <"$OUT"
