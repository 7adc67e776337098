#!/usr/bin/env bash
# Bounded fuzzing (CI calls this from scripts/test.sh) of three targets:
#   scan   — the marker scanner and rewrite (seeds: the golden trees' inputs);
#   range  — the semver range parser and semver policy (seeds: typical ranges);
#   config — the config loader, YAML to objects (seeds: policies/*.yaml, testdata/flux/*.yaml).
#   scripts/fuzz.sh [SECONDS]   (default 60 in all, or FUZZ_SECONDS; split 2:1:2)
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-${FUZZ_SECONDS:-60}}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 1
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: cargo-fuzz is needed: cargo install cargo-fuzz" >&2
  exit 1
fi

seed() { # seed TARGET FILE...
  local corpus="fuzz/corpus/$1" n=0
  shift
  mkdir -p "$corpus"
  for file in "$@"; do
    cp -f "$file" "$corpus/seed-$n"
    n=$((n + 1))
  done
}

mapfile -d '' scan_seeds < <(find testdata/update -type f -path '*/input/*' -print0)
seed scan "${scan_seeds[@]}"
seed config policies/*.yaml testdata/flux/*.yaml
mkdir -p fuzz/corpus/range
n=0
for range in '>=1.0.0 <2.0.0' '^1.2.x' '~1.2.3' '1.2 - 2.3.4 || >=3.0.0-0' '!=1.0.0, >0.1' '=> 1.x' 'v1.2.3' '*'; do
  printf '%s\n1.2.3\nv2.0.0-rc.1\n' "$range" > "fuzz/corpus/range/seed-$n"
  n=$((n + 1))
done

# Build everything first, so the time below is spent fuzzing.
cargo +nightly fuzz build
run() { # run TARGET SECONDS MAX_LEN
  echo "fuzz.sh: $1 for $2 s" >&2
  cargo +nightly fuzz run "$1" "fuzz/corpus/$1" -- \
    -max_total_time="$2" -max_len="$3" -timeout=10 -print_final_stats=1
}
run scan $((seconds * 2 / 5)) 4096
run range $((seconds / 5)) 512
run config $((seconds * 2 / 5)) 4096
