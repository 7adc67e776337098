#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests start for real
# (scripts/install-test-deps.sh, cached after the first run), then runs the format
# check, clippy with -D warnings, cargo deny (licenses, bans, sources and RustSec
# advisories, under a throwaway CARGO_HOME: the fresh-machine path), every test,
# the README's demo (run to the end and interrupted), and the bounded fuzz run.
# The last lines summarise what was checked.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
started=$SECONDS

step "installing test dependencies"
bash scripts/install-test-deps.sh

export PATH="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}/bin:$PATH"
# Tests must never reach beyond loopback: no cloud metadata lookups from the AWS SDK.
export AWS_EC2_METADATA_DISABLED=true
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings

step "cargo deny (licenses, bans, sources, advisories) under a throwaway CARGO_HOME"
deny_summary="$(bash scripts/deny.sh | tail -n 1)"
echo "$deny_summary" >&2

step "cargo test"
cargo test --locked --all-targets

step "the README's demo: scripts/demo.sh to the end, then interrupted with Ctrl-C"
bash scripts/check-demo.sh

step "bounded fuzzing (marker scanner, semver ranges, config loader)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "all checks passed in $((SECONDS - started)) s"
{
  echo "    format, clippy -D warnings, every test, the demo (exit 0, and 130 on Ctrl-C, nothing left behind), fuzzing"
  echo "    licenses, bans, sources: checked with a fresh CARGO_HOME"
  echo "    $deny_summary"
} >&2
