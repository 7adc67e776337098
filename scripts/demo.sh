#!/usr/bin/env bash
# The local demo of tagpilot's main job, on this machine only (127.0.0.1):
#   1. starts a registry (CNCF distribution, Debian's docker-registry) and pushes tags,
#   2. creates a GitOps config repository with $imagepolicy markers,
#   3. runs `tagpilot run --once` with Flux-style YAML, and shows the bot commit,
#   4. pushes a newer build and runs again: a second commit; a third run is a no-op.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1   # leave no __pycache__ behind in scripts/
cd "$(dirname "$0")/.."
repo_root="$PWD"

need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v git >/dev/null || need+=(git)
dpkg-query -W -f='${Status}' libssl-dev 2>/dev/null | grep -q "ok installed" || need+=(libssl-dev pkg-config libssh2-1-dev)
if ((${#need[@]})); then
  echo "[demo] installing ${need[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "[demo] building tagpilot" >&2
cargo build --quiet --bin tagpilot
tagpilot="$repo_root/target/debug/tagpilot"

work="$(mktemp -d "${TMPDIR:-/tmp}/tagpilot-demo.XXXXXX")"
registry_pid=""
# Everything the demo creates lives under $work, and the registry is its only
# background process: cleanup stops it and removes $work, whatever the exit
# (success, a failed step, Ctrl-C or SIGTERM). It never changes the exit status.
cleanup() {
  if [ -n "$registry_pid" ]; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
    registry_pid=""
  fi
  rm -rf "$work"
}
trap 'status=$?; trap - EXIT; cleanup; exit "$status"' EXIT
trap 'trap - EXIT; cleanup; echo "[demo] interrupted; removed $work" >&2; exit 130' INT
trap 'trap - EXIT; cleanup; exit 143' TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
registry="127.0.0.1:$port"
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: $registry, secret: demo}
YAML
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://$registry/v2/')" 2>/dev/null && break
  sleep 0.1
done

echo "== CI pushes images to $registry" >&2
python3 scripts/push-test-image.py "$registry" shop/front-end main-1a2b3c4-117 main-5d6e7f8-118
python3 scripts/push-test-image.py "$registry" shop/api v1.4.2 v1.5.0 v2.0.0-rc.1

echo "== the config repository (a bare repository; any git server works the same)" >&2
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
git init -q --bare -b main "$work/config.git"
git init -q -b main "$work/seed"
mkdir -p "$work/seed/overlays/production"
cat > "$work/seed/overlays/production/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: front-end
    newName: $registry/shop/front-end # {"\$imagepolicy": "shop:front-end:name"}
    newTag: main-0a0a0a0-100 # {"\$imagepolicy": "shop:front-end:tag"}
YAML
cat > "$work/seed/overlays/production/api.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api   # the API server
spec:
  template:
    spec:
      containers:
        - name: api
          image: "$registry/shop/api:v1.3.0" # {"\$imagepolicy": "shop:api"}
YAML
git -C "$work/seed" add -A
git -C "$work/seed" -c user.name=dev -c user.email=dev@example.com commit -qm "Initial config"
git -C "$work/seed" push -q "$work/config.git" main

mkdir -p "$work/tagpilot"
cat > "$work/tagpilot/images.yaml" <<YAML
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: front-end, namespace: shop}
spec:
  image: $registry/shop/front-end
  interval: 1m
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: front-end, namespace: shop}
spec:
  imageRepositoryRef: {name: front-end}
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<build>[0-9]+)$'
    extract: '\$build'
  policy:
    numerical: {order: asc}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: api, namespace: shop}
spec:
  image: $registry/shop/api
  interval: 1m
  insecure: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: api, namespace: shop}
spec:
  imageRepositoryRef: {name: api}
  policy:
    semver: {range: ">=1.0.0 <2.0.0"}
YAML
cat > "$work/tagpilot/automation.yaml" <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: config, namespace: shop}
spec:
  url: file://$work/config.git
  ref: {branch: main}
  interval: 1m
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: shop, namespace: shop}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: config}
  git:
    commit:
      author: {name: tagpilot, email: tagpilot@example.com}
  update:
    path: ./overlays/production
    strategy: Setters
YAML

run() {
  echo "\$ tagpilot run --once --config CONFIG --state-dir STATE" >&2
  "$tagpilot" run --once --config "$work/tagpilot" --state-dir "$work/state"
}

echo "== first run" >&2
run
echo "== the bot commit (git log -p -1)" >&2
git -C "$work/config.git" log -p -1 --format='commit %H%nAuthor: %an <%ae>%n%n    %s%n%n%w(0,4,4)%b'

echo "== CI pushes build 119; second run" >&2
python3 scripts/push-test-image.py "$registry" shop/front-end main-9a8b7c6-119
run
git -C "$work/config.git" log --oneline

echo "== third run: nothing new, no commit" >&2
run
git -C "$work/config.git" log --oneline
"$tagpilot" status --state-dir "$work/state"
