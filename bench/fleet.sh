#!/usr/bin/env bash
# Fleet-scale benchmark of the standalone engine: 2,000 ImageRepositories x 1,000
# tags, 2,000 ImagePolicies, one config repository of 20,000 files (2,000 markers).
# Prints one markdown table row per scenario (`run --once` full / no-change / bump,
# the daemon's full cycle and its next no-change round): wall, CPU, peak RSS,
# registry requests, commits, load. See bench/fleet.py for every knob.
#
#   bench/fleet.sh                                   # 2,000 x 1,000 on the stand-in
#   REGISTRY=distribution REPOS=200 TAGS=200 bench/fleet.sh   # the real-registry point
#   REPOS=200 TAGS=200 bench/fleet.sh                # the same size on the stand-in
#   GIT_SERVER=file bench/fleet.sh                   # the config repository on file://
#
# The tag lists come from bench/fleet-registry (Go, standard library only, built
# here): distribution cannot hold 2,000 x 1,000 tags on this machine in useful
# time (the distribution run prints its push rate and inodes per tag).
# The config repository is served over smart HTTP by the real `git http-backend`
# behind lighttpd, as a git host serves it; GIT_SERVER=file uses a file:// URL instead, for
# which libgit2 packs and delta-compresses the whole repository in-process on every
# clone (about 4x the clone time of the HTTP server, which reuses its stored pack).
# Needs: go, git, python3, GNU time; lighttpd (unless GIT_SERVER=file) and, for
# REGISTRY=distribution, distribution v3: both from scripts/install-test-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go git python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "bench/fleet.sh: $tool is needed" >&2; exit 1; }
done
work="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-fleet-bin.XXXXXX")"
trap 'rm -rf "$work"' EXIT
(cd bench/fleet-registry && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o "$work/fleet-registry" .)
bin="${TAGPILOT_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tagpilot
  bin="${CARGO_TARGET_DIR:-target}/release/tagpilot"
fi
# A copy: a shared CARGO_TARGET_DIR may be rebuilt by someone else mid-run.
cp "$bin" "$work/tagpilot"
python3 bench/fleet.py "$work/tagpilot" "$work/fleet-registry"
