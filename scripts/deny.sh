#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (CI calls this from scripts/test.sh):
#   - licenses, bans (duplicate versions are reported, banned crates fail) and
#     sources (crates.io only): offline, always;
#   - advisories (RustSec): need a clone of github.com/rustsec/advisory-db. When
#     it cannot be fetched the script says so loudly and goes on, unless
#     TAGPILOT_REQUIRE_ADVISORIES=1, which makes that a failure.
# Policy: deny.toml. Needs cargo-deny (scripts/install-test-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "deny.sh: cargo-deny is needed: cargo install --locked cargo-deny (scripts/install-test-deps.sh)" >&2
  exit 1
fi

cargo deny --offline check --hide-inclusion-graph licenses bans sources

if fetch_error="$(timeout 120 cargo deny fetch db 2>&1)"; then
  cargo deny --offline check --hide-inclusion-graph advisories
else
  {
    echo "deny.sh: ADVISORIES NOT CHECKED: the RustSec advisory database could not be fetched:"
    printf '%s\n' "$fetch_error" | grep -E 'ERROR|fatal' | sed 's/^/    /'
  } >&2
  if [ "${TAGPILOT_REQUIRE_ADVISORIES:-0}" = 1 ]; then
    exit 1
  fi
fi
