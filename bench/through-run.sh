#!/usr/bin/env bash
# Search quality as a user gets it: each study runs through `hypersearch run` (coordinator,
# scheduler, sampler thread, local workers over gRPC) on a built-in function objective,
# sequentially and with 8 workers, and its best value is read back with `hypersearch best`.
# The sampler benchmark (`cargo bench -p hypersearch-search --bench samplers`) simulates the
# same budgets in process; this script checks that the product gets what it measures.
#   bench/through-run.sh                      # bayes and tpe, seeds 0-9
#   ALGOS=bayes SEEDS=5 FUNCTIONS=branin bench/through-run.sh
# Prints one line per run ("function algorithm parallel seed regret") and then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p hypersearch --bin hypersearch
bin="$PWD/target/release/hypersearch"
algos="${ALGOS:-bayes tpe}"
seeds="${SEEDS:-10}"
functions="${FUNCTIONS:-branin hartmann6 ackley5 rosenbrock4}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# name -> built-in function, budget, known minimum, and the space (the sampler benchmark's).
space() {
    local lo=$1 hi=$2 count=$3 i
    for ((i = 0; i < count; i++)); do echo "x$i = { float = [$lo, $hi] }"; done
}
study() {
    case $1 in
        branin) echo "branin 50 0.397887357729738"; printf 'x1 = { float = [-5, 10] }\nx2 = { float = [0, 15] }\n' ;;
        hartmann6) echo "hartmann6 100 -3.322368011391339"; space 0 1 6 ;;
        ackley5) echo "ackley 100 0"; space -5 10 5 ;;
        rosenbrock4) echo "rosenbrock 100 0"; space -5 10 4 ;;
        *) echo "unknown function $1" >&2; exit 2 ;;
    esac
}

for f in $functions; do
    spec=$(study "$f") || exit 2
    read -r builtin budget minimum <<< "${spec%%$'\n'*}"
    for algo in $algos; do
        for parallel in 1 8; do
            for ((seed = 0; seed < seeds; seed++)); do
                run="$dir/$f-$algo-$parallel-$seed"
                mkdir "$run"
                {
                    printf '[study]\nname = "s"\n[objective]\nfunction = "%s"\n' "$builtin"
                    printf '[search]\nalgorithm = "%s"\ntrials = %s\nparallel = %s\nseed = %s\n' \
                        "$algo" "$budget" "$parallel" "$seed"
                    printf '[search.space]\n'
                    printf '%s\n' "${spec#*$'\n'}"
                } > "$run/study.toml"
                "$bin" run "$run/study.toml" --workers "$parallel" --db "$run/s.db" > "$run/log" 2>&1 \
                    || { echo "run failed: $run" >&2; cat "$run/log" >&2; exit 1; }
                best=$("$bin" best --db "$run/s.db" --top 1 --format json \
                    | python3 -c 'import json, sys
trials = json.load(sys.stdin)
if not trials:
    sys.exit("no complete trial")
print(trials[0]["value"])') || { echo "no best value: $run" >&2; cat "$run/log" >&2; exit 1; }
                python3 -c "print('$f $algo $parallel $seed', '%.4g' % ($best - $minimum))"
            done
        done
    done
done | tee "$dir/results.txt"

python3 - "$dir/results.txt" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    f, algo, parallel, _, regret = line.split()
    runs[(f, algo, parallel)].append(float(regret))
print("\n| function | sampler | workers | seeds | median final regret |\n|---|---|---|---|---|")
for (f, algo, parallel), regrets in runs.items():
    print(f"| {f} | {algo} | {parallel} | {len(regrets)} | {statistics.median(regrets):.3g} |")
PY
