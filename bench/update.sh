#!/usr/bin/env bash
# Benchmark of `tagpilot update` against `grep -rl '"$imagepolicy"'` on the same warm tree.
#
#   bench/update.sh [FILES] [MARKED]     (defaults: 20000 manifests, 2000 of them marked;
#                                         RUNS=N hyperfine runs per command, default 15)
#
# Generates FILES Deployment manifests of ~2,250 bytes each (~45 MB) in a temporary
# directory, MARKED of them with two `$imagepolicy` markers, builds the release
# binary, warms the page cache, checks that one run really changes every marked
# file, then times with hyperfine:
#   1. grep -rl '"$imagepolicy"' DIR                           (the floor: read everything)
#   2. tagpilot update DIR --set ... --dry-run                 (read, parse, rewrite, diff)
#   3. tagpilot update COPY --set ... --in-place               (read, parse, rewrite, overwrite
#                                                               in place: what the engine does
#                                                               in its own working copy)
#   4. tagpilot update COPY --set ...                          (the default: each file replaced
#                                                               atomically and all of them durable
#                                                               at the end: temp files, one syncfs,
#                                                               renames, one syncfs)
#   5. bench/write_floor.rs on COPY                            (4.'s file-system work alone: read the
#                                                               marked files, replace each with its own
#                                                               bytes in the same four steps; no walk,
#                                                               no parse; what the kernel and the
#                                                               device take, the least any atomic,
#                                                               durable writer pays)
# COPY is re-made (and synced) before each write run, in a new directory (see below).
# Targets: the update within 3x of grep (issue 4: 2. is the engine's full work and 3. its
# write path); the default write (4.) within 2x of grep (issue 19). 5. tells how much of 4.
# no program can save on this file system. TMPDIR=DIR runs it all on DIR's file system
# (the README's journaled ext4 row: a loop-mounted one).
set -euo pipefail
cd "$(dirname "$0")/.."

files="${1:-20000}"
marked="${2:-2000}"
for tool in hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "bench/update.sh: $tool is needed" >&2; exit 1; }
done

work="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tree="$work/tree"

python3 - "$tree" "$files" "$marked" <<'PY'
import os, sys
root, files, marked = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
every = max(1, files // max(1, marked))
count = 0
for i in range(files):
    d = os.path.join(root, f"team-{i // 100:03d}", "apps")
    os.makedirs(d, exist_ok=True)
    is_marked = count < marked and i % every == 0
    count += is_marked
    image = (f'ghcr.io/bench/app:1.0.0 # {{"$imagepolicy": "bench:app"}}' if is_marked
             else "ghcr.io/bench/other:1.0.0")
    tag = (f'"1.0.0" # {{"$imagepolicy": "bench:app:tag"}}' if is_marked else '"1.0.0"')
    env = "".join(f"            - name: SETTING_{k:02d}\n              value: \"value-{i}-{k}\"\n"
                  for k in range(24))
    text = f"""# Service {i}: generated for the tagpilot update benchmark.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: service-{i}
  namespace: team-{i // 100:03d}
  labels:
    app.kubernetes.io/name: service-{i}
    app.kubernetes.io/part-of: bench
  annotations:
    bench.tagpilot.dev/version: {tag}
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: service-{i}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: service-{i}
    spec:
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
{env}"""
    with open(os.path.join(d, f"service-{i:05d}.yaml"), "w") as f:
        f.write(text)
print(f"generated {files} manifests ({count} marked) in {root}", file=sys.stderr)
PY
du -sh --apparent-size "$tree" >&2

cargo build --release --quiet --bin tagpilot
# Copy the binaries: a shared CARGO_TARGET_DIR may be rebuilt by someone else mid-run.
cp "${CARGO_TARGET_DIR:-target}/release/tagpilot" "$work/tagpilot"
bin="$work/tagpilot"
floor_built="$(bash bench/bench-executable.sh write_floor)"
cp "$floor_built" "$work/write_floor"
(cd "$tree" && grep -rl '"$imagepolicy"' . | sed 's|^\./||') > "$work/marked.txt"
floor="TAGPILOT_BENCH_TREE='$work/copy' TAGPILOT_BENCH_FILES='$work/marked.txt' '$work/write_floor'"
set_args=(--set "bench:app=ghcr.io/bench/app:2.0.0")

# Warm the page cache, then check that a run really does the full work.
find "$tree" -type f -exec cat {} + > /dev/null
changed="$("$bin" update "$tree" "${set_args[@]}" -o json --dry-run | grep -c '"setter": "bench:app:tag"')"
expected_grep="$(grep -rl '"$imagepolicy"' "$tree" | wc -l)"
if [ "$changed" -ne "$marked" ] || [ "$expected_grep" -ne "$marked" ]; then
  echo "bench/update.sh: expected $marked marked files, tagpilot changed $changed, grep found $expected_grep" >&2
  exit 1
fi
rm -rf "$work/copy" && cp -a "$tree" "$work/copy"
"$bin" update "$work/copy" "${set_args[@]}" --in-place > /dev/null
written="$(grep -rl 'ghcr.io/bench/app:2.0.0' "$work/copy" | wc -l)"
if [ "$written" -ne "$marked" ]; then
  echo "bench/update.sh: an in-place run wrote $written of $marked marked files" >&2
  exit 1
fi
echo "one dry run changes all $changed marked files; one in-place run writes them all" >&2
# One run of the floor on a fresh copy, for its steps (hyperfine hides them). The copy
# stays until the end: removing it now would slow the timed runs (see below).
cp -a "$tree" "$work/floor-check" && sync
TAGPILOT_BENCH_TREE="$work/floor-check" TAGPILOT_BENCH_FILES="$work/marked.txt" "$work/write_floor"
if ! diff -r -q "$tree" "$work/floor-check" > /dev/null; then
  echo "bench/update.sh: the write floor changed a file or left one behind" >&2
  exit 1
fi

# One --prepare per command, in order: only the write runs need a fresh copy. Each gets
# it in a new directory (COPY is a symlink to the latest); the copies are removed at
# the end. Removing the previous copy's 20,000 files just before a run would make the
# run pay for that removal: ext4 without a journal (this machine kind) does not reuse
# an inode within 5 s of its deletion (300 s while its inode table block is dirty), so
# each file created soon after scans past the freed inodes first. PREPARE=remove
# measures that case (rm -rf, then cp) instead.
rm -rf "$work/copy"
echo 0 > "$work/copies"
copies=$(( 3 * (${RUNS:-15} + 3) ))
need_kb=$(( copies * $(du -sk "$tree" | cut -f1) ))
free_kb="$(df -Pk "$work" | awk 'NR == 2 { print $4 }')"
if [ "${PREPARE:-new}" != remove ] && [ "$free_kb" -lt "$need_kb" ]; then
  echo "bench/update.sh: $copies copies of the tree need $((need_kb / 1024)) MB in $work, $((free_kb / 1024)) MB free (set TMPDIR, or PREPARE=remove)" >&2
  exit 1
fi
if [ "${PREPARE:-new}" = remove ]; then
  fresh_copy="rm -rf '$work/copy' && cp -a '$tree' '$work/copy' && sync && find '$work/copy' -type f -exec cat {} + > /dev/null"
else
  fresh_copy="n=\$((\$(cat '$work/copies') + 1)) && echo \$n > '$work/copies' && cp -a '$tree' '$work/copy-'\$n && ln -sfn '$work/copy-'\$n '$work/copy' && sync && find '$work/copy/' -type f -exec cat {} + > /dev/null"
fi
hyperfine --warmup 3 --runs "${RUNS:-15}" --export-markdown "$work/results.md" \
  --prepare true --prepare true --prepare "$fresh_copy" --prepare "$fresh_copy" --prepare "$fresh_copy" \
  -n grep -n "tagpilot update --dry-run" -n "tagpilot update --in-place" -n "tagpilot update (atomic)" \
  -n "write floor (file system alone)" \
  "grep -rl '\"\$imagepolicy\"' '$tree'" \
  "'$bin' update '$tree' ${set_args[*]} --dry-run" \
  "'$bin' update '$work/copy' ${set_args[*]} --in-place" \
  "'$bin' update '$work/copy' ${set_args[*]}" \
  "$floor"
cat "$work/results.md"
