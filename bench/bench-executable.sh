#!/usr/bin/env bash
# Builds the `cargo bench` target NAME (release, `[[bench]]` in Cargo.toml) without
# running it and prints the path of its executable; fails, saying so, if it cannot.
#
#   bench/bench-executable.sh NAME
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: bench/bench-executable.sh NAME}"
path="$(cargo bench --quiet --bench "$name" --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == sys.argv[1] and m.get("executable"):
        print(m["executable"])' "$name" || true)"
[ -n "$path" ] || { echo "bench/bench-executable.sh: could not build the bench target $name" >&2; exit 1; }
echo "$path"
