#!/usr/bin/env bash
# Builds the release binary and the `hypersearch` image from it (needs a Docker engine).
#   deploy/docker/build-image.sh [TAG]      (default hypersearch:latest)
set -euo pipefail
tag=${1:-hypersearch:latest}
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
cargo build --release --locked --bin hypersearch
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp deploy/docker/Dockerfile "$context/"
deploy/docker/rootfs.sh target/release/hypersearch "$context"
docker build -t "$tag" "$context"
