#!/usr/bin/env bash
# Times `tagpilot policy eval` against `grep -E PATTERN | sort -V | tail -1` on
# the same 200,000 tags (the generator of benches/policy.rs: MINSTD, seed
# 20240101), checks that both pick the same tag, and prints it.
#
# Usage: bench/policy-vs-sort.sh [WORKDIR]   (needs hyperfine, awk, GNU sort)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
tags=$work/tags.txt
policy=$work/policy.yaml

awk -v count=200000 'BEGIN {
  state = 20240101
  for (i = 0; i < count; i++) {
    state = (state * 48271) % 2147483647; kind = state % 10
    state = (state * 48271) % 2147483647; a = state % 20
    state = (state * 48271) % 2147483647; b = state % 50
    state = (state * 48271) % 2147483647; c = state % 100
    if (kind <= 4)      printf "app-%d.%d.%d\n", a, b, c
    else if (kind == 5) printf "app-%d.%d.%d-rc.%d\n", a, b, c, c % 10
    else if (kind == 6) { state = (state * 48271) % 2147483647; printf "main-%07x-%d\n", state % 268435456, i }
    else if (kind == 7) { state = (state * 48271) % 2147483647; printf "sha256-%08x.sig\n", state }
    else if (kind == 8) printf "%d.%d.%d\n", a, b, c
    else                printf "app-%d.%d\n", a, b
  }
}' > "$tags"

cat > "$policy" <<'YAML'
apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: app
spec:
  imageRepositoryRef:
    name: app
  filterTags:
    pattern: '^app-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)$'
    extract: '$version'
  policy:
    semver:
      range: '>=1.0.0'
YAML

# The same selection in POSIX ERE: release versions with the app- prefix.
ere='^app-[0-9]+\.[0-9]+\.[0-9]+$'

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet --bin tagpilot)
bin=$work/tagpilot
cp "$CARGO_TARGET_DIR/release/tagpilot" "$bin"

ours=$("$bin" policy eval --policy "$policy" --tags "$tags")
theirs=$(grep -E "$ere" "$tags" | sort -V | tail -1)
echo "tags: $(wc -l < "$tags") in $tags"
echo "tagpilot policy eval:          $ours"
echo "grep -E | sort -V | tail -1:   $theirs"
if [[ "$ours" != "$theirs" ]]; then
  echo "the two answers differ" >&2
  exit 1
fi

hyperfine --warmup 3 --runs 20 -N \
  --command-name "tagpilot policy eval" "$bin policy eval --policy $policy --tags $tags" \
  --command-name "grep -E | sort -V | tail -1" "bash -c \"grep -E '$ere' $tags | sort -V | tail -1\""
