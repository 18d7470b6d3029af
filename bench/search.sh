#!/usr/bin/env bash
# Search library speed and TPE parity: ours (cargo bench) then Optuna's on the same workloads.
# SEEDS=n sets the number of seeds of the TPE regret table (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -q -p hypersearch-search --bench search -- "$@"
python3 bench/peers/search_speed.py "$@"
