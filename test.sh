#!/usr/bin/env bash
# The test command (what CI runs): installs what the tests need beyond the Rust toolchain,
# then runs every test of the workspace.
#   - the PostgreSQL server programs (Debian's `postgresql`), for the PostgreSQL store's tests,
#     which start throwaway clusters of their own on free loopback ports;
#   - `promtool` (Debian's `prometheus`), which checks the coordinator's /metrics.
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

missing=()
have_postgres || missing+=(postgresql)
have_promtool || missing+=(prometheus)
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

if (($#)); then
    cargo test --release "$@"
else
    cargo test --release --workspace
fi
