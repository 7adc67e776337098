#!/usr/bin/env bash
# The local demo: builds tagpilot and shows what it does, with no registry or cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/tagpilot
"$bin" --version
"$bin" --help
