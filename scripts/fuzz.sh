#!/usr/bin/env bash
# Bounded fuzzing of the marker scanner (CI calls this from scripts/test.sh).
#   scripts/fuzz.sh [SECONDS]   (default 30; or FUZZ_SECONDS)
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The corpus is seeded from the golden trees; a crash leaves its input in
# fuzz/artifacts/scan/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-30}}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is needed: cargo install cargo-fuzz" >&2
  exit 1
fi

corpus=fuzz/corpus/scan
mkdir -p "$corpus"
n=0
while IFS= read -r -d '' seed; do
  cp -f "$seed" "$corpus/seed-$n"
  n=$((n + 1))
done < <(find testdata/update -type f -path '*/input/*' -print0)

exec cargo +nightly fuzz run scan "$corpus" -- \
  -max_total_time="$seconds" -max_len=4096 -timeout=10 -print_final_stats=1
