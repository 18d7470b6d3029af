#!/usr/bin/env bash
# Runs fuzz target(s) for SECONDS each (default 30), starting from the seeds in seeds/TARGET
# and the corpus grown by earlier runs (corpus/, not committed). Needs cargo-fuzz; on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly flags it needs.
#   fuzz/run.sh                 every target, 30 s each (what CI runs)
#   fuzz/run.sh study_config 600
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
targets=(study_config training_config idx_files csv_file command_line proto_messages data_chunks dashboard_queries model_files model_uploads)
seconds=30
if (($#)) && [[ $1 =~ ^[a-z_]+$ ]]; then
    targets=("$1")
    seconds=${2:-30}
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
cargo fuzz build -O
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
    echo "fuzz/run.sh: $target for ${seconds}s" >&2
    cargo fuzz run -O "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1
done
