#!/usr/bin/env bash
# Sampler benchmark: our samplers (bench binary) and the peers (bench/peers/samplers.py) on
# the same functions, budgets and seeds, then the side-by-side tables of BENCHMARKS.md.
#
#   bench/samplers.sh [OUT_DIR]          # default OUT_DIR: target/bench-samplers
#
# Environment: PYTHON (default python3) needs optuna, torch and scikit-optimize;
# HEBO_PYTHON (default /work/venv-hebo/bin/python) is a virtual environment holding HEBO
# (`pip install --no-deps HEBO pymoo==0.6.0 gpytorch linear_operator disjoint-set` plus
# "numpy<1.25", scipy, scikit-learn, pandas, autograd, alive_progress, matplotlib, torch and
# optuna (the mixed spaces are described once, as Optuna distributions); created with
# --system-site-packages; run with OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 beside other work).
# Set SKIP_PEERS=1 to rerun only ours against earlier peer results in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-samplers}"
mkdir -p "$out"
python="${PYTHON:-python3}"
hebo_python="${HEBO_PYTHON:-/work/venv-hebo/bin/python}"

rm -f "$out/ours.jsonl"
cargo bench -p hypersearch-search --bench samplers -- --out "$out/ours.jsonl"

if [[ -z "${SKIP_PEERS:-}" ]]; then
    rm -f "$out/peers.jsonl" "$out/hebo.jsonl"
    "$python" bench/peers/samplers.py --peers optuna-gp,optuna-tpe,skopt --timing --out "$out/peers.jsonl"
    "$hebo_python" bench/peers/samplers.py --peers hebo --out "$out/hebo.jsonl"
fi

"$python" bench/peers/samplers.py --table "$out"/*.jsonl
