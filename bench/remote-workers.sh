#!/usr/bin/env bash
# How busy the slots are when the workers are separate processes joined over gRPC, against
# local workers in one `hypersearch run`: an 80-trial study on 8 slots whose trials sleep
# 0-400 ms at random, for each sampler in ALGOS (default "tpe bayes random"; random samples
# a round of trials ahead, tpe and bayes none). Remote: `hypersearch serve` on loopback and
# two `hypersearch worker` processes of 4 slots each. Prints trials/s and the slots' busy
# share (from the attempts table) per run.
#   bash bench/remote-workers.sh          # needs target/release/hypersearch and python3
#   ALGOS=bayes REPS=3 bash bench/remote-workers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/target/release/hypersearch"
algos="${ALGOS:-tpe bayes random}"
reps="${REPS:-2}"
port="${PORT:-50071}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/score.sh" <<'SCRIPT'
#!/bin/sh
x=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"x":\([-0-9.eE+]*\).*/\1/')
y=$(printf '%s' "$HYPERSEARCH_PARAMS" | sed 's/.*"y":\([-0-9.eE+]*\).*/\1/')
sleep "$(awk -v s="$$" 'BEGIN { srand(s); printf "%.3f", rand() * 0.4 }')"
awk -v x="$x" -v y="$y" 'BEGIN { printf "loss=%.12f\n", (x - 1) ^ 2 + (y + 2) ^ 2 }'
SCRIPT
head -c 32 /dev/urandom | base64 > "$dir/token.txt"
echo "uptime: $(uptime)"
for algo in $algos; do
    cat > "$dir/study-$algo.toml" <<STUDY
[study]
name = "remote-$algo"
metric = "loss"
[objective]
command = "sh score.sh"
[search]
algorithm = "$algo"
trials = 80
parallel = 8
seed = 11
[search.space]
x = { float = [-5, 5] }
y = { float = [-5, 5] }
STUDY
    for rep in $(seq "$reps"); do
        (cd "$dir" && "$bin" run "study-$algo.toml" --db "local-$algo-$rep.db" --workers 8 \
            > "local-$algo-$rep.log" 2>&1)
        (
            cd "$dir"
            "$bin" serve "study-$algo.toml" --db "remote-$algo-$rep.db" \
                --listen "127.0.0.1:$port" --token-file token.txt > "serve-$algo-$rep.log" 2>&1 &
            serve=$!
            for w in 1 2; do
                "$bin" worker --coordinator "http://127.0.0.1:$port" --token-file token.txt \
                    --slots 4 --name "w$w" > "worker-$w.log" 2>&1 &
            done
            wait "$serve"
            wait
        )
    done
done
python3 - "$dir" "$reps" "$algos" <<'PY'
import datetime as dt, sqlite3, sys
folder, reps, algos = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def t(s): return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
for algo in algos:
    for where in ("local", "remote"):
        for rep in range(1, reps + 1):
            db = sqlite3.connect(f"{folder}/{where}-{algo}-{rep}.db")
            spans = [(t(a), t(b)) for a, b in db.execute(
                "SELECT started_at, finished_at FROM attempts WHERE finished_at IS NOT NULL")]
            span = max(b for _, b in spans) - min(a for a, _ in spans)
            busy = sum(b - a for a, b in spans) / (8 * span)
            print(f"{algo:7} {where:6} run {rep}: {len(spans)} trials in {span:.2f} s, "
                  f"{len(spans) / span:.1f} trials/s, slots busy {100 * busy:.0f} %")
PY
