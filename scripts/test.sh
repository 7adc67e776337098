#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests start for real
# (scripts/install-test-deps.sh, cached after the first run), then runs the format
# check, clippy with -D warnings, cargo deny, every test, and the bounded fuzz run.
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

step "cargo deny (licenses, bans, sources; advisories when the RustSec DB is reachable)"
bash scripts/deny.sh

step "cargo test"
cargo test --locked --all-targets

step "bounded fuzzing (marker scanner, semver ranges, config loader)"
bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

step "all checks passed in $((SECONDS - started)) s"
