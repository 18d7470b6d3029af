#!/usr/bin/env bash
# `hypersearch plot` against Optuna's matplotlib plots on the same trials (issue 9), at 1,000,
# 10,000 and 100,000 trials of a random search on hartmann6 (a zero-cost function objective,
# six parameters).
#
#   bench/plots.sh [OUT_DIR]          # default OUT_DIR: target/bench-plots
#
# Ours: the whole `hypersearch plot --format png` command (process start, reading the SQLite
# file, every chart: history, curves, importance, parallel coordinates, six slices, timeline),
# best of 3. Optuna's: plot_optimization_history + plot_param_importances +
# plot_parallel_coordinate saved as PNGs, on the same trials loaded into an in-memory study
# (loading not timed), best of 3. PYTHON (default python3) needs optuna 5, matplotlib, scipy.
# SIZES overrides the study sizes (default "1000 10000 100000").
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bench-plots}"
python="${PYTHON:-python3}"
sizes="${SIZES:-1000 10000 100000}"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p hypersearch --bin hypersearch
hs="$target/release/hypersearch"
mkdir -p "$out"

best_of_3() {
    local best=
    for _ in 1 2 3; do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null
        end=$(date +%s.%N)
        best=$("$python" -c "a, b = $end - $start, '$best'; print(min(a, float(b)) if b else a)")
    done
    echo "$best"
}

printf '%-8s %12s %12s %8s\n' trials "ours (s)" "optuna (s)" ratio
for n in $sizes; do
    db="$out/study-$n.db"
    if [[ ! -f $db ]]; then
        cat >"$out/study-$n.toml" <<TOML
[study]
name = "plots-$n"
[objective]
function = "hartmann6"
[search]
algorithm = "random"
trials = $n
parallel = 8
seed = 3
[search.space]
x1 = { float = [0, 1] }
x2 = { float = [0, 1] }
x3 = { float = [0, 1] }
x4 = { float = [0, 1] }
x5 = { float = [0, 1] }
x6 = { float = [0, 1] }
TOML
        "$hs" run "$out/study-$n.toml" --db "$db" --workers 2 >/dev/null
    fi
    ours=$(best_of_3 "$hs" plot --db "$db" --out "$out/charts-$n")
    peer=
    for _ in 1 2 3; do
        seconds=$("$python" bench/peers/optuna_plots.py "$db" "$out/charts-$n" \
            | "$python" -c 'import json, sys; print(json.load(sys.stdin)["seconds"]["total"])')
        peer=$("$python" -c "a, b = $seconds, '$peer'; print(min(a, float(b)) if b else a)")
    done
    printf '%-8s %12.3f %12.3f %7.1fx\n' "$n" "$ours" "$peer" \
        "$("$python" -c "print($peer / $ours)")"
done
