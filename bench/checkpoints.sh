#!/usr/bin/env bash
# What sending a checkpoint after every epoch costs a search end to end: the same digits study
# (TRIALS trials, default 16, of EPOCHS epochs, default 30, a HIDDEN network, default
# [256, 128], with batch norm and Adam, seed 7) run through `hypersearch run --workers 2` with
# `[study] checkpoints = true` and `false`, alternated, REPS times (default 3). Prints each
# run's wall time and the sum of its attempts' durations (from the attempts table), then the
# ratios with/without; checks both found the same results.
#   bash bench/checkpoints.sh            # needs target/release/hypersearch and python3
#   EPOCHS=20 HIDDEN="[32]" bash bench/checkpoints.sh   # tiny epochs: the worst case
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${HYPERSEARCH_BIN:-$PWD/target/release/hypersearch}"
reps="${REPS:-3}"
trials="${TRIALS:-16}"
epochs="${EPOCHS:-30}"
hidden="${HIDDEN:-[256, 128]}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for ckpt in true false; do
    cat > "$dir/study-$ckpt.toml" <<STUDY
[study]
name = "ckpt-$ckpt"
metric = "val_accuracy"
checkpoints = $ckpt
keep_models = 0
[data]
source = "digits"
[network]
hidden = $hidden
batch_norm = true
[training]
epochs = $epochs
seed = 7
[search]
algorithm = "random"
trials = $trials
parallel = 2
seed = 7
[search.space]
"training.learning_rate" = { float = [1e-3, 1e-2], log = true }
STUDY
done
echo "uptime: $(uptime)"
for rep in $(seq "$reps"); do
    for ckpt in true false; do
        start=$(date +%s.%N)
        (cd "$dir" && "$bin" run "study-$ckpt.toml" --db "$ckpt-$rep.db" --workers 2 > /dev/null 2>&1)
        end=$(date +%s.%N)
        echo "$ckpt $rep $start $end" >> "$dir/walls"
    done
done
python3 - "$dir" "$reps" <<'PY'
import datetime as dt, sqlite3, sys
folder, reps = sys.argv[1], int(sys.argv[2])
def t(s): return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
walls = {}
for line in open(f"{folder}/walls"):
    ckpt, rep, start, end = line.split()
    walls[(ckpt, int(rep))] = float(end) - float(start)
totals = {"true": [0.0, 0.0], "false": [0.0, 0.0]}
values = {}
for rep in range(1, reps + 1):
    for ckpt in ("true", "false"):
        db = sqlite3.connect(f"{folder}/{ckpt}-{rep}.db")
        busy = sum(t(b) - t(a) for a, b in db.execute(
            "SELECT started_at, finished_at FROM attempts WHERE finished_at IS NOT NULL"))
        values[(ckpt, rep)] = db.execute("SELECT number, value FROM trials ORDER BY number").fetchall()
        wall = walls[(ckpt, rep)]
        totals[ckpt][0] += wall
        totals[ckpt][1] += busy
        print(f"checkpoints={ckpt:5} run {rep}: wall {wall:6.2f} s, attempts {busy:6.2f} s")
same = all(values[("true", r)] == values[("false", r)] for r in range(1, reps + 1))
print(f"wall ratio with/without: {totals['true'][0] / totals['false'][0]:.3f}; "
      f"attempt-time ratio: {totals['true'][1] / totals['false'][1]:.3f}; "
      f"same results: {same}")
PY
