#!/usr/bin/env bash
# What `[search] deterministic = true` costs: an 80-trial TPE study on 8 local slots whose
# trials sleep 0-400 ms at random, run REPS times (default 3) with and without it. Prints the
# wall time, trials/s and how busy the slots were (from the attempts table), and whether the
# deterministic runs proposed identical trials.
#   bash bench/deterministic.sh            # needs target/release/hypersearch and python3
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/hypersearch"
reps="${REPS:-3}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/score.sh" <<'SCRIPT'
#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
sleep "$(awk -v s="$$" 'BEGIN { srand(s); printf "%.3f", rand() * 0.4 }')"
awk -v x="$x" -v y="$y" 'BEGIN { printf "epoch=1 loss=%.12f\n", (x - 1) ^ 2 + (y + 2) ^ 2 }'
SCRIPT
for det in false true; do
    cat > "$dir/study-$det.toml" <<STUDY
[study]
name = "det-$det"
metric = "loss"
[objective]
command = "sh score.sh"
[search]
algorithm = "tpe"
trials = 80
parallel = 8
seed = 11
deterministic = $det
[search.space]
x = { float = [-5, 5] }
y = { float = [-5, 5] }
STUDY
done
echo "uptime: $(uptime)"
for rep in $(seq "$reps"); do
    for det in false true; do
        (cd "$dir" && "$bin" run "study-$det.toml" --db "$det-$rep.db" --workers 8 > /dev/null 2>&1)
    done
done
python3 - "$dir" "$reps" <<'PY'
import datetime as dt, hashlib, sqlite3, sys
folder, reps = sys.argv[1], int(sys.argv[2])
def t(s): return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
for det in ("false", "true"):
    digests = set()
    for rep in range(1, reps + 1):
        db = sqlite3.connect(f"{folder}/{det}-{rep}.db")
        spans = [(t(a), t(b)) for a, b in db.execute("SELECT started_at, finished_at FROM attempts")]
        span = max(b for _, b in spans) - min(a for a, _ in spans)
        busy = sum(b - a for a, b in spans) / (8 * span)
        trials = db.execute("SELECT number, params FROM trials ORDER BY number").fetchall()
        digests.add(hashlib.sha1(repr(trials).encode()).hexdigest())
        print(f"deterministic={det} run {rep}: {len(spans)} trials in {span:.2f} s, "
              f"{len(spans) / span:.1f} trials/s, slots busy {100 * busy:.0f} %")
    print(f"deterministic={det}: {len(digests)} distinct sets of trials over {reps} runs")
PY
