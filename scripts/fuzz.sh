#!/usr/bin/env bash
# Bounded fuzzing (CI calls this from scripts/test.sh) of six targets:
#   scan   — the marker scanner and rewrite (seeds: the golden trees' inputs);
#   range  — the semver range parser and semver policy (seeds: typical ranges);
#   config — the config loader, YAML to objects (seeds: policies/*.yaml, testdata/flux/*.yaml);
#   auth   — WWW-Authenticate challenges and token answers (seeds: registries' shapes);
#   link   — Link headers, the page budget and URL redaction (seeds: registries' shapes);
#   gotemplate — the Go template interpreter (seeds: the Flux template goldens).
#   scripts/fuzz.sh [SECONDS]   (default 60 in all, or FUZZ_SECONDS; split 3:2:3:2:2:3)
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
seed gotemplate testdata/flux-templates/cases/*/template.tmpl
mkdir -p fuzz/corpus/range
n=0
for range in '>=1.0.0 <2.0.0' '^1.2.x' '~1.2.3' '1.2 - 2.3.4 || >=3.0.0-0' '!=1.0.0, >0.1' '=> 1.x' 'v1.2.3' '*'; do
  printf '%s\n1.2.3\nv2.0.0-rc.1\n' "$range" > "fuzz/corpus/range/seed-$n"
  n=$((n + 1))
done

mkdir -p fuzz/corpus/auth fuzz/corpus/link
printf '%s\n%s' 'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull"' \
  '{"token":"eyJhbGciOiJSUzI1NiJ9.e30.c2ln","expires_in":300,"issued_at":"2026-01-01T00:00:00Z"}' > fuzz/corpus/auth/seed-0
printf '%s\n%s' 'Basic realm="registry", Bearer realm="/token"' '{"access_token":"t","expires_in":18446744073709551615}' > fuzz/corpus/auth/seed-1
printf '%s\n%s' 'Bearer realm="a\"b",error="insufficient_scope"' '{"token":"t","expires_in":-1e300}' > fuzz/corpus/auth/seed-2
printf '%s\n' '</v2/team/app/tags/list?n=100&last=v1.9>; rel="next"' 'ghp_T0ken:x-oauth-basic' > fuzz/corpus/link/seed-0
printf '%s\n' '<https://r.example/v2/a/tags/list?last=a,b>; rel=prev, <https://r.example/p3>; title="x, y"; rel="first next"' 'http://user:p%40ss@h/r?access_token=abc' > fuzz/corpus/link/seed-1

# Build everything first, so the time below is spent fuzzing.
cargo +nightly fuzz build
run() { # run TARGET SECONDS MAX_LEN
  echo "fuzz.sh: $1 for $2 s" >&2
  cargo +nightly fuzz run "$1" "fuzz/corpus/$1" -- \
    -max_total_time="$2" -max_len="$3" -timeout=10 -print_final_stats=1
}
run scan $((seconds * 3 / 15)) 4096
run range $((seconds * 2 / 15)) 512
run config $((seconds * 3 / 15)) 4096
run auth $((seconds * 2 / 15)) 2048
run link $((seconds * 2 / 15)) 2048
run gotemplate $((seconds * 3 / 15)) 2048
