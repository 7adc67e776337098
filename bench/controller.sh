#!/usr/bin/env bash
# Controller-mode benchmark: 2,000 objects of each kind (ImageRepository,
# ImagePolicy, GitRepository, ImageUpdateAutomation) on the real test
# kube-apiserver; time until all are Ready, the controller's RSS, and API server
# requests per minute at rest (counted by the API server's own
# apiserver_request_total, minus its traffic without the controller). Prints one
# markdown table row and the at-rest requests by verb and resource.
#
#   bench/controller.sh                       # 2,000 of each kind
#   OBJECTS=200 REST_SECONDS=60 bench/controller.sh
#
# Tags come from bench/fleet-registry (built here); git is one bare repository
# with a branch per GitRepository (REPOSITORIES=each: a repository per
# GitRepository), served over smart HTTP (GIT_SERVER=file: file://).
# See bench/controller.py for the knobs.
# Needs: scripts/install-test-deps.sh (kube-apiserver-test, lighttpd), kubectl, go, git, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go git python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "bench/controller.sh: $tool is needed" >&2; exit 1; }
done
work="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-controller-bin.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd bench/fleet-registry && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$work/fleet-registry" .)
bin="${TAGPILOT_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tagpilot
  bin="${CARGO_TARGET_DIR:-target}/release/tagpilot"
fi
cp "$bin" "$work/tagpilot"
python3 bench/controller.py "$work/tagpilot" "$work/fleet-registry"
