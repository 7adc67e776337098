#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (scripts/test.sh runs this; policy in deny.toml):
#   - licenses, bans and sources, offline;
#   - advisories (RustSec), offline, against a copy of the advisory database.
#
# It runs the way a fresh machine would: under a throwaway CARGO_HOME that holds
# only what `cargo fetch --locked` downloads (every crate of Cargo.lock, the
# Windows- and wasm-only ones included: cargo-deny reads them all, a Linux build
# never fetches them). So a check that only passes thanks to a warm crate cache
# fails here first.
#
# The advisory database, first found of:
#   1. $TAGPILOT_ADVISORY_DB: a git bundle or a clone of github.com/rustsec/advisory-db;
#   2. github.com/rustsec/advisory-db itself, when it can be reached;
#   3. a snapshot bundle at ../shared/rustsec/advisory-db.bundle beside the checkout, or
#      /work/shared/rustsec/advisory-db.bundle (where this project's CI machines keep one).
# None found is a failure, unless TAGPILOT_SKIP_ADVISORIES=1 (then it says loudly that
# advisories were NOT checked). The database is kept under the tools directory.
# The last line on stdout is the one-line summary scripts/test.sh repeats.
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root="$PWD"

TOOLS_DIR="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}"
export PATH="$TOOLS_DIR/bin:$PATH"
# deny.toml reads the database from here ([advisories] db-path).
export TAGPILOT_ADVISORY_DB_DIR="$TOOLS_DIR/advisory-dbs"
RUSTSEC_URL="https://github.com/RustSec/advisory-db"

log() { printf 'deny.sh: %s\n' "$*" >&2; }

if ! cargo deny --version >/dev/null 2>&1; then
  log "cargo-deny is needed: bash scripts/install-test-deps.sh (or cargo install --locked cargo-deny)"
  exit 1
fi

fresh_home="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-deny-cargo-home.XXXXXX")"
trap 'rm -rf "$fresh_home"' EXIT
log "fetching every crate of Cargo.lock into a throwaway CARGO_HOME (the fresh-machine path)"
CARGO_HOME="$fresh_home" cargo fetch --locked --quiet
export CARGO_HOME="$fresh_home"

cargo deny --offline check --hide-inclusion-graph licenses bans sources

# Fetches the database from URL (a bundle, a clone or RustSec's GitHub URL) into the
# directory cargo-deny derives from RustSec's URL: git rewrites the URL on the way.
fetch_db_from() {
  local source="$1"
  if [ "$source" = "$RUSTSEC_URL" ]; then
    timeout 120 cargo deny fetch db
  else
    GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0="url.$source.insteadOf" GIT_CONFIG_VALUE_0="$RUSTSEC_URL" \
      cargo deny fetch db
  fi
}

if [ -n "${TAGPILOT_ADVISORY_DB:-}" ]; then
  # An explicitly named database must load: no falling back to another one.
  if [ ! -e "$TAGPILOT_ADVISORY_DB" ]; then
    log "TAGPILOT_ADVISORY_DB=$TAGPILOT_ADVISORY_DB does not exist"
    exit 1
  fi
  candidates=("$(realpath "$TAGPILOT_ADVISORY_DB")")
else
  candidates=("$RUSTSEC_URL" "$(realpath -m "$repo_root/../shared/rustsec/advisory-db.bundle")"
    "/work/shared/rustsec/advisory-db.bundle")
fi

source_used=""
failures=()
for candidate in "${candidates[@]}"; do
  if [ "$candidate" != "$RUSTSEC_URL" ] && [ ! -e "$candidate" ]; then
    continue
  fi
  if output="$(fetch_db_from "$candidate" 2>&1)"; then
    source_used="$candidate"
    break
  fi
  failures+=("$candidate: $(printf '%s\n' "$output" | grep -E 'ERROR|fatal|error' | head -n 2 | tr '\n' ' ')")
done

if [ -z "$source_used" ]; then
  log "no RustSec advisory database could be loaded:"
  for failure in "${failures[@]}"; do log "    $failure"; done
  log "    (looked at: ${candidates[*]})"
  if [ "${TAGPILOT_SKIP_ADVISORIES:-0}" = 1 ]; then
    echo "advisories: NOT CHECKED (TAGPILOT_SKIP_ADVISORIES=1 and no advisory database)"
    exit 0
  fi
  log "point TAGPILOT_ADVISORY_DB at a git bundle or clone of the database, or set TAGPILOT_SKIP_ADVISORIES=1 to skip this check knowingly"
  exit 1
fi

cargo deny --offline check --hide-inclusion-graph advisories

db_dir="$(ls -d "$TAGPILOT_ADVISORY_DB_DIR"/advisory-db-* | head -n 1)"
db_commit="$(git -C "$db_dir" log -1 --format='%h, %cs')"
echo "advisories: checked against the RustSec advisory database ($db_commit) from $source_used"
