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
    "$python" - "$out/optuna-$kind.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"load average at start: {r['load_average']}")
for row in r["rows"]:
    rps = f"{row['reports_per_s']:.0f} reports/s" if row["reports_per_s"] else ""
    print(f"{row['mode']:>16} x{row['processes']:<3} {row['recorded']:>5}/{row['requested']:<5} "
          f"{row['seconds']:6.1f} s {row['trials_per_s']:8.1f} trials/s {rps:>16} errors {row['errors']}")
PY
done
rmdir "$out/storage" 2>/dev/null || true
