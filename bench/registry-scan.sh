#!/usr/bin/env bash
# Registry scan benchmark: REPOS repositories x TAGS tags on a local distribution
# v3 registry, then one full scan cycle (every repository listed and stored) by
# bench/registry_scan.rs under /usr/bin/time -v.
#
#   bash bench/registry-scan.sh            # 500 x 200 (100,000 tags)
#   REPOS=50 TAGS=20 bash bench/registry-scan.sh
#
# Everything runs on 127.0.0.1; the registry and its data are removed at exit.
# Needs: scripts/install-test-deps.sh (registry v3), python3, GNU time (Debian `time`).
set -euo pipefail
cd "$(dirname "$0")/.."

REPOS="${REPOS:-500}"
TAGS="${TAGS:-200}"
CONCURRENCY="${CONCURRENCY:-8}"
TOOLS="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}"
REGISTRY_BIN="$TOOLS/bin/registry-v3"
[ -x "$REGISTRY_BIN" ] || { echo "registry v3 missing: run scripts/install-test-deps.sh" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time missing: apt-get install time" >&2; exit 1; }

work="$(mktemp -d)"
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: tagpilot-bench
YAML
OTEL_SDK_DISABLED=true OTEL_TRACES_EXPORTER=none "$REGISTRY_BIN" serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

echo "==> pushing $REPOS repositories x $TAGS tags to 127.0.0.1:$port" >&2
push_start=$SECONDS
python3 bench/registry-push.py "127.0.0.1:$port" "$REPOS" "$TAGS"
echo "    pushed in $((SECONDS - push_start)) s" >&2

echo "==> building the benchmark (release)" >&2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
binary="$(bash bench/bench-executable.sh registry_scan)"

echo "==> one full scan cycle" >&2
TAGPILOT_BENCH_REGISTRY="127.0.0.1:$port" TAGPILOT_BENCH_REPOSITORIES="$REPOS" TAGPILOT_BENCH_CONCURRENCY="$CONCURRENCY" \
  /usr/bin/time -v "$binary" 2>"$work/time.txt"
grep -E "Elapsed \(wall clock\)|Maximum resident set size|Percent of CPU" "$work/time.txt" | sed 's/^\s*/time -v: /'
