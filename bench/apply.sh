#!/usr/bin/env bash
# Benchmark of `tagpilot apply` against `kubectl apply --server-side` on the same tree.
#
#   bench/apply.sh [OBJECTS] [RUNS]     (defaults: 500 objects, 5 runs each)
#
# Starts the test kube-apiserver (k8s 1.32 on an embedded etcd, built by
# scripts/install-test-deps.sh) on 127.0.0.1, generates OBJECTS manifests (5
# Namespaces, then ConfigMaps, headless Services — the test server's service IP
# range is small — and Deployments in equal parts spread over them) and times
# with hyperfine:
#   1. tagpilot apply DIR, cold       (every object created; fresh namespaces per run)
#   2. kubectl apply --server-side -R -f DIR, cold
#   3. tagpilot apply DIR, unchanged  (every object already applied)
#   4. kubectl apply --server-side -R -f DIR, unchanged
# "Cold" runs get a new tree with new namespace names in hyperfine's --prepare
# step (namespaces are never deleted here: no kube-controller-manager runs).
# tagpilot also dry-runs the whole set first, so it sends every object twice.
# TAGPILOT_BIN overrides the binary (default: target/release/tagpilot, built).
set -euo pipefail
cd "$(dirname "$0")/.."

objects="${1:-500}"
runs="${2:-5}"
tools="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}"
apiserver="$tools/bin/kube-apiserver-test"
for tool in hyperfine python3 kubectl "$apiserver"; do
  command -v "$tool" >/dev/null || { echo "bench/apply.sh: $tool is needed (scripts/install-test-deps.sh)" >&2; exit 1; }
done
bin="${TAGPILOT_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --quiet --bin tagpilot
  bin="${CARGO_TARGET_DIR:-target}/release/tagpilot"
fi
bin="$(realpath "$bin")"

work="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-apply-bench.XXXXXX")"
"$apiserver" -kubeconfig "$work/kubeconfig" -data-dir "$work/etcd" >"$work/apiserver.log" 2>&1 &
apiserver_pid=$!
trap 'kill "$apiserver_pid" 2>/dev/null; wait "$apiserver_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do [ -f "$work/kubeconfig" ] && break; sleep 0.2; done
[ -f "$work/kubeconfig" ] || { echo "the kube-apiserver did not start:" >&2; cat "$work/apiserver.log" >&2; exit 1; }
export KUBECONFIG="$work/kubeconfig"

# generate DIR SUFFIX: OBJECTS manifests in namespaces bench-SUFFIX-0..4.
cat >"$work/generate.py" <<'PY'
import os, shutil, sys
root, suffix, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
shutil.rmtree(root, ignore_errors=True)
os.makedirs(root)
namespaces = [f"bench-{suffix}-{i}" for i in range(5)]
with open(os.path.join(root, "00-namespaces.yaml"), "w") as f:
    f.write("".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {n}\n" for n in namespaces))
rest = total - len(namespaces)
for i in range(rest):
    ns = namespaces[i % len(namespaces)]
    kind = i % 3
    name = f"app-{i:04d}"
    if kind == 0:
        doc = f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  setting: \"{i}\"\n  image: ghcr.io/bench/app:1.0.{i}\n"
    elif kind == 1:
        doc = f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  clusterIP: None\n  selector: {{app: {name}}}\n  ports:\n    - port: 80\n      targetPort: 8080\n"
    else:
        doc = f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/bench/app:1.0.{i}\n          ports: [{{containerPort: 8080}}]\n"
    with open(os.path.join(root, f"{i:04d}-{name}.yaml"), "w") as f:
        f.write(doc)
PY
counter="$work/counter"
echo 0 >"$counter"
# A fresh tree with new namespace names for each cold run.
fresh="n=\$(( \$(cat $counter) + 1 )); echo \$n > $counter; python3 $work/generate.py $work/cold \$n $objects"

echo "== $objects objects; $(nproc) cores; $("$bin" --version); kubectl $(kubectl version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')"
# Sanity: one cold apply really creates every object.
python3 "$work/generate.py" "$work/check" check "$objects"
created="$("$bin" apply "$work/check" | grep -c ' created$')"
[ "$created" -eq "$objects" ] || { echo "expected $objects created, got $created" >&2; exit 1; }

hyperfine --style basic --runs "$runs" --export-markdown "$work/cold.md" \
  --prepare "$fresh" -n "tagpilot apply (cold)" "$bin apply $work/cold" \
  --prepare "$fresh" -n "kubectl apply --server-side (cold)" "kubectl apply --server-side -R -f $work/cold"

python3 "$work/generate.py" "$work/warm" warm "$objects"
"$bin" apply "$work/warm" >/dev/null
kubectl apply --server-side --field-manager tagpilot -R -f "$work/warm" >/dev/null
hyperfine --style basic --runs "$runs" --warmup 1 --export-markdown "$work/warm.md" \
  -n "tagpilot apply (unchanged)" "$bin apply $work/warm" \
  -n "kubectl apply --server-side (unchanged)" "kubectl apply --server-side --field-manager tagpilot -R -f $work/warm"
cat "$work/cold.md" "$work/warm.md"
