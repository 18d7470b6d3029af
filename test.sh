#!/usr/bin/env bash
# The test command (what CI runs): installs what the tests need beyond the Rust toolchain,
# then runs every test of the workspace.
#   - the PostgreSQL server programs (Debian's `postgresql`), for the PostgreSQL store's tests,
#     which start throwaway clusters of their own on free loopback ports.
# Arguments are passed to `cargo test` (e.g. ./test.sh -p hypersearch-coordinator).
set -euo pipefail
cd "$(dirname "$0")"

have_postgres() {
    [[ -n "${PG_BIN:-}" && -x "${PG_BIN}/initdb" ]] || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if ! have_postgres; then
    echo "test.sh: installing the PostgreSQL server (Debian package postgresql)" >&2
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null
    have_postgres || { echo "test.sh: the PostgreSQL server is still missing" >&2; exit 1; }
fi

cargo test --release --workspace "$@"
