#!/usr/bin/env bash
# NAS on real training (issue 13): the digits architecture space of examples/digits-search.toml
# (60 trials, 4 at once, the median rule) searched by each of our samplers and by Optuna's TPE,
# per search seed: best validation accuracy, trials completed and pruned, the study's wall
# time and CPU time, and the time from its start to the end of the first complete trial at or
# above 0.98.
#
#   bench/nas.sh [--out FILE] [--seeds "1 2 3 4 5"] [--samplers "evolution tpe bayes random optuna-tpe"]
#                [--rule median|none] [--table]
#
# Ours: a copy of the example with `algorithm`, `[search] seed` and the study's name set (and
# with --rule none, no [early_stopping] table) run by `hypersearch run --workers 4` into a
# fresh SQLite file, read back by bench/peers/nas_optuna.py. Optuna's: that script drives
# `hypersearch train COPY --params JSON` on the same file (see its header: the same space,
# trials, parallelism, training, and MedianPruner with the same options fed every epoch).
# For each seed the samplers run one after the other, so a busy neighbour on the shared
# machine slows all of them alike; each line records the load average.
# Every study appends one JSON line to FILE (default target/bench-nas/nas.jsonl; a rerun of a
# sampler and seed replaces its earlier line in the table); at the end the table of
# BENCHMARKS.md is printed from the whole file. --table only prints it.
# Environment: HYPERSEARCH_BIN (default target/release/hypersearch, built beforehand);
# PYTHON (default python3) needs optuna 5 for the optuna-tpe rows. Needs GNU time
# (/usr/bin/time) for ours' CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench-nas/nas.jsonl
seeds="1 2 3 4 5"
samplers="evolution tpe bayes random optuna-tpe"
rule=median
table_only=
while (($#)); do
    case $1 in
        --out) out=$2; shift 2 ;;
        --seeds) seeds=$2; shift 2 ;;
        --samplers) samplers=$2; shift 2 ;;
        --rule) rule=$2; shift 2 ;;
        --table) table_only=1; shift ;;
        *) echo "bench/nas.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
python="${PYTHON:-python3}"
peer=bench/peers/nas_optuna.py
mkdir -p "$(dirname "$out")"
if [[ -n $table_only ]]; then
    "$python" "$peer" table "$out"
    exit
fi
time=/usr/bin/time   # GNU time, for the run process's CPU seconds
[[ -x $time ]] || { echo "bench/nas.sh: needs GNU time as $time" >&2; exit 1; }
hs=$(realpath "${HYPERSEARCH_BIN:-target/release/hypersearch}")
[[ -x $hs ]] || { echo "bench/nas.sh: $hs is not an executable (build it, or set HYPERSEARCH_BIN)" >&2; exit 1; }
[[ $rule == median || $rule == none ]] || { echo "bench/nas.sh: --rule median or none, not $rule" >&2; exit 2; }
if [[ " $samplers " == *" optuna-tpe "* ]]; then
    "$python" -c 'import optuna' || { echo "bench/nas.sh: $python has no optuna (set PYTHON)" >&2; exit 1; }
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# The example with the search's algorithm, seed and name set; fails unless each change took.
study_copy() {
    local algorithm=$1 seed=$2 name=$3 file=$4
    sed -e "s/^name = \"digits-search\"$/name = \"$name\"/" \
        -e "s/^algorithm = \"tpe\"\$/algorithm = \"$algorithm\"/" \
        -e "/^\[search\]\$/,/^\[/ s/^seed = 7\$/seed = $seed/" \
        examples/digits-search.toml > "$file"
    if [[ $rule == none ]]; then
        sed -i -e '/^\[early_stopping\]$/,$d' "$file"
    fi
    grep -q "^name = \"$name\"\$" "$file" && grep -q "^algorithm = \"$algorithm\"\$" "$file" \
        && sed -n '/^\[search\]$/,/^\[/p' "$file" | grep -q "^seed = $seed\$" \
        && grep -Eq '^trials = 60( |$)' "$file" && grep -Eq '^parallel = 4( |$)' "$file" \
        || { echo "bench/nas.sh: examples/digits-search.toml changed; cannot make $file" >&2; exit 1; }
    if [[ $rule == median ]]; then
        grep -q '^rule = "median"$' "$file" \
            || { echo "bench/nas.sh: the example has no median rule" >&2; exit 1; }
    elif grep -q '^\[early_stopping\]' "$file"; then
        echo "bench/nas.sh: could not drop [early_stopping] from $file" >&2; exit 1
    fi
}

echo "uptime: $(uptime)"
for seed in $seeds; do
    for sampler in $samplers; do
        name="nas-$sampler-$rule-s$seed"
        load=$(cut -d' ' -f1 /proc/loadavg)
        if [[ $sampler == optuna-tpe ]]; then
            study_copy tpe "$seed" "$name" "$dir/$name.toml"
            "$python" "$peer" run --study "$dir/$name.toml" --bin "$hs" --seed "$seed" --out "$out"
        else
            study_copy "$sampler" "$seed" "$name" "$dir/$name.toml"
            if ! "$time" -f '%e %U %S' -o "$dir/$name.time" \
                "$hs" run "$dir/$name.toml" --db "$dir/$name.db" --workers 4 > "$dir/$name.log" 2>&1; then
                tail -n 40 "$dir/$name.log" >&2
                echo "bench/nas.sh: hypersearch run failed for $name" >&2
                exit 1
            fi
            read -r elapsed user system < "$dir/$name.time"
            "$python" "$peer" ours --db "$dir/$name.db" --out "$out" --process-s "$elapsed" \
                --cpu-s "$(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }')" --load-start "$load"
        fi
    done
done
echo "uptime: $(uptime)"
"$python" "$peer" table "$out"
