#!/usr/bin/env bash
# Distributed throughput (issue 5): hypersearch serve + workers against Optuna's distributed
# storages, in the same run, databases on the same disk filesystem (OUT_DIR/storage).
#
#   bench/throughput.sh [OUT_DIR] [flags for the hypersearch side, e.g. --quick]
#                                        # default OUT_DIR: target/bench-throughput
# Writes OUT_DIR/hypersearch.json, OUT_DIR/optuna-disk.json and prints the tables (ours, then
# ours against Optuna with ratios). Waits until the 1-minute load average is below MAX_LOAD
# (default 2.5; other builds on a 2-core machine skew every figure) for at most WAIT_S seconds
# (default 1800), and prints the load next to the figures.
# Environment: PYTHON (default python3) needs optuna, grpcio and protobuf; PEER_FLAGS are
# passed to bench/peers/optuna_throughput.py (e.g. "--quick"); SKIP_PEER=1 runs ours only.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-throughput}"
shift || true
python="${PYTHON:-python3}"
max_load="${MAX_LOAD:-2.5}"
wait_s="${WAIT_S:-1800}"
target="${CARGO_TARGET_DIR:-target}"

cargo build --release -p hypersearch --bin hypersearch
cargo bench -p hypersearch-coordinator --bench throughput --no-run
bench=$(cargo bench -p hypersearch-coordinator --bench throughput --no-run --message-format=json 2>/dev/null \
    | "$python" -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "throughput" and m.get("executable"):
        print(m["executable"])')
mkdir -p "$out/storage"

waited=0
while :; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    if "$python" -c "import sys; sys.exit(0 if $load < $max_load else 1)"; then break; fi
    if (( waited >= wait_s )); then
        echo "load average still $load after ${wait_s}s (MAX_LOAD=$max_load): measuring anyway" >&2
        break
    fi
    echo "load average $load >= $max_load: waiting" >&2
    sleep 30
    waited=$((waited + 30))
done
echo "uptime: $(uptime)"

peer_args=()
if [[ "${SKIP_PEER:-0}" != 1 ]]; then
    # shellcheck disable=SC2086
    "$python" bench/peers/optuna_throughput.py --dir "$out/storage" --json ${PEER_FLAGS:-} > "$out/optuna-disk.json"
    peer_args=(--peer "$out/optuna-disk.json")
    echo "uptime after the peer: $(uptime)"
fi
"$bench" --bin "$target/release/hypersearch" --dir "$out/storage" --json "$out/hypersearch.json" \
    "${peer_args[@]}" "$@"
echo "uptime: $(uptime)"
rmdir "$out/storage" 2>/dev/null || true
