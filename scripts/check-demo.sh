#!/usr/bin/env bash
# Checks the README's first command, scripts/demo.sh, the way a user meets it
# (scripts/test.sh runs this):
#   1. run to the end: exit 0, the bot commits in its output, nothing left behind
#      (no temporary directory, no file in the checkout, no registry process);
#   2. Ctrl-C in the middle: the whole process group gets SIGINT, as from a
#      terminal; the demo exits 130 and still leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { printf 'check-demo: FAILED: %s\n' "$*" >&2; exit 1; }

scratch="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-check-demo.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
before_status="$(git status --porcelain --ignored --untracked-files=all | grep -v '^!! target/' || true)"

# Leftovers: files under the demo's TMPDIR, changes in the checkout, registries still running.
assert_clean() {
  local what="$1" tmp="$2"
  [ -z "$(ls -A "$tmp")" ] || fail "$what left files behind in TMPDIR: $(ls -A "$tmp" | tr '\n' ' ')"
  local after_status
  after_status="$(git status --porcelain --ignored --untracked-files=all | grep -v '^!! target/' || true)"
  [ "$after_status" = "$before_status" ] || fail "$what changed the checkout: $(diff <(echo "$before_status") <(echo "$after_status") | tr '\n' ' ')"
  if pgrep -f "docker-registry serve $tmp/" >/dev/null; then
    fail "$what left a registry running: $(pgrep -af "docker-registry serve $tmp/")"
  fi
}

# 1. The whole demo.
mkdir "$scratch/full"
status=0
TMPDIR="$scratch/full" bash scripts/demo.sh > "$scratch/full.out" 2> "$scratch/full.err" || status=$?
[ "$status" = 0 ] || { cat "$scratch/full.err" >&2; fail "scripts/demo.sh exited $status, not 0"; }
grep -q 'automation shop/shop: pushed .* (2 changes)' "$scratch/full.out" "$scratch/full.err" ||
  fail "the first run's bot commit is missing from the demo's output"
grep -q 'automation shop/shop: no change' "$scratch/full.out" "$scratch/full.err" ||
  fail "the third run's 'no change' is missing from the demo's output"
assert_clean "the demo" "$scratch/full"
echo "check-demo: scripts/demo.sh exited 0 and left nothing behind"

# 2. Ctrl-C once the registry is up and images are being pushed. Job control puts
# the demo in its own process group, which is what a terminal signals. A shell
# started in the background (as CI runners may start this script) passes SIGINT
# on ignored, and an ignored signal stays ignored in every child: the demo would
# never see the Ctrl-C. A terminal's shell gives its commands the default, so
# the demo starts with it here too (`env --default-signal`, coreutils >= 8.31).
mkdir "$scratch/interrupted"
set -m
TMPDIR="$scratch/interrupted" env --default-signal=INT bash scripts/demo.sh > "$scratch/int.out" 2> "$scratch/int.err" &
demo_pid=$!
set +m
for _ in $(seq 600); do
  grep -q '== the config repository' "$scratch/int.err" 2>/dev/null && break
  kill -0 "$demo_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q '== the config repository' "$scratch/int.err" || { cat "$scratch/int.err" >&2; fail "the demo never got to its config repository"; }
kill -INT -- "-$demo_pid"
status=0
wait "$demo_pid" || status=$?
[ "$status" = 130 ] || { cat "$scratch/int.err" >&2; fail "the interrupted demo exited $status, not 130"; }
assert_clean "the interrupted demo" "$scratch/interrupted"
echo "check-demo: Ctrl-C: the demo exited 130 and left nothing behind"
