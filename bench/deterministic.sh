#!/usr/bin/env bash
# What `[search] deterministic = true` costs: an 80-trial TPE study on 8 local slots whose
# trials sleep 0-400 ms at random, run REPS times (default 3) with and without it. Prints the
# wall time, trials/s and how busy the slots were (from the attempts table), and whether the
# deterministic runs proposed identical trials. With EPOCHS=k each trial reports k epochs (its
# sleep split between them) and the median rule stops trials early: it also prints the stops,
# the epochs run and the best value.
#   bash bench/deterministic.sh            # needs target/release/hypersearch and python3
#   EPOCHS=5 bash bench/deterministic.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/hypersearch"
reps="${REPS:-3}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
epochs="${EPOCHS:-1}"
cat > "$dir/score.sh" <<SCRIPT
#!/bin/sh
x=\$(printf '%s' "\$HYPERSEARCH_PARAMS" | sed 's/.*"x":\\([-0-9.eE+]*\\).*/\\1/')
y=\$(printf '%s' "\$HYPERSEARCH_PARAMS" | sed 's/.*"y":\\([-0-9.eE+]*\\).*/\\1/')
pause=\$(awk -v s="\$\$" 'BEGIN { srand(s); printf "%.3f", rand() * 0.4 / $epochs }')
e=1
while [ "\$e" -le $epochs ]; do
  sleep "\$pause"
  awk -v x="\$x" -v y="\$y" -v e="\$e" \\
    'BEGIN { printf "epoch=%d loss=%.12f\\n", e, ((x - 1) ^ 2 + (y + 2) ^ 2) * (1 + 1 / e) }'
  e=\$((e + 1))
done
SCRIPT
early=""
if [ "$epochs" -gt 1 ]; then
    early=$'[early_stopping]\nrule = "median"\nwarmup_epochs = 1\nstartup_trials = 5'
fi
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
$early
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
        trials = db.execute("SELECT number, params, state FROM trials ORDER BY number").fetchall()
        digests.add(hashlib.sha1(repr(trials).encode()).hexdigest())
        stops = db.execute("SELECT count(*) FROM early_stops").fetchone()[0]
        epochs = db.execute("SELECT count(*) FROM epoch_metrics WHERE name = 'loss'").fetchone()[0]
        best = db.execute("SELECT min(value) FROM trials WHERE state = 'complete'").fetchone()[0]
        print(f"deterministic={det} run {rep}: {len(spans)} trials in {span:.2f} s, "
              f"{len(spans) / span:.1f} trials/s, slots busy {100 * busy:.0f} %, "
              f"{stops} stopped, {epochs} epochs run, best {best:.4g}")
    print(f"deterministic={det}: {len(digests)} distinct sets of trials over {reps} runs")
PY
