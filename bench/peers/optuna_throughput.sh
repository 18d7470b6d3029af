#!/usr/bin/env bash
# Optuna's side of the distributed-throughput benchmark (issue 5), twice: storage files on
# the disk filesystem of OUT_DIR (as durable as the coordinator's SQLite file placed there)
# and on tmpfs (/dev/shm, no fsync cost). Writes OUT_DIR/optuna-disk.json and
# OUT_DIR/optuna-tmpfs.json (one JSON object each) and prints both tables.
#
#   bench/peers/optuna_throughput.sh [OUT_DIR] [extra flags, e.g. --quick]
#                                              # default OUT_DIR: target/bench-throughput
# Environment: PYTHON (default python3) needs optuna, grpcio and protobuf.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-target/bench-throughput}"
shift || true
python="${PYTHON:-python3}"
mkdir -p "$out/storage"
echo "uptime: $(uptime)"
for kind in disk tmpfs; do
    dir="$out/storage"
    [[ $kind == tmpfs ]] && dir=/dev/shm
    "$python" bench/peers/optuna_throughput.py --dir "$dir" --json "$@" > "$out/optuna-$kind.json"
    echo "== Optuna, storage on $kind ($dir)"
    "$python" -c 'import json, sys; sys.path.insert(0, "bench/peers"); import optuna_throughput as o
r = json.load(open(sys.argv[1])); print(o.table(r["rows"], r["load_average"], r["dir"]))' "$out/optuna-$kind.json"
done
rmdir "$out/storage" 2>/dev/null || true
