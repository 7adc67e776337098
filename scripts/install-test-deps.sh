#!/usr/bin/env bash
# Installs everything tagpilot's tests start for real, on a Debian 12 machine (root):
#   - Debian packages: docker-registry (distribution 2.8), apache2-utils (htpasswd),
#     openssh-server, lighttpd, skopeo, git, openssl, the -dev libraries git2 links against;
#   - distribution v3 (it paginates tags/list), built from the Go module proxy;
#   - the moto server (the ECR API), from PyPI in a venv;
#   - a kube-apiserver with embedded etcd (tests/kube-apiserver), built from the Go module proxy;
#   - the Go template oracle (tests/gotemplate-oracle: text/template + Sprig), from the Go module proxy;
#   - cargo-fuzz, from crates.io (for the bounded fuzz run);
#   - cargo-deny, from crates.io (licenses, bans, sources, advisories).
# Everything but the Debian packages goes under $TAGPILOT_TOOLS_DIR
# (default ~/.cache/tagpilot-tools), so a second run does nothing and takes about a second.
set -euo pipefail

TOOLS_DIR="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}"
DISTRIBUTION_V3_VERSION="v3.1.2"
MOTO_VERSION="5.2.5"

log() { printf '[install] %s\n' "$*" >&2; }

apt_packages=(docker-registry apache2-utils openssh-server openssh-client lighttpd skopeo git
  openssl ca-certificates pkg-config libssl-dev libssh2-1-dev zlib1g-dev hyperfine python3-venv time curl)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$TOOLS_DIR/bin"

if [ ! -x "$TOOLS_DIR/bin/registry-v3" ] || [ "$(cat "$TOOLS_DIR/bin/registry-v3.version" 2>/dev/null)" != "$DISTRIBUTION_V3_VERSION" ]; then
  log "building distribution $DISTRIBUTION_V3_VERSION from the Go module proxy"
  command -v go >/dev/null || { log "Go is required to build distribution v3 (https://go.dev/doc/install)"; exit 1; }
  gobin="$(mktemp -d)"
  GOBIN="$gobin" GOFLAGS=-mod=mod go install "github.com/distribution/distribution/v3/cmd/registry@$DISTRIBUTION_V3_VERSION"
  mv "$gobin/registry" "$TOOLS_DIR/bin/registry-v3"
  echo "$DISTRIBUTION_V3_VERSION" > "$TOOLS_DIR/bin/registry-v3.version"
  rm -rf "$gobin"
fi

if [ ! -x "$TOOLS_DIR/venv/bin/moto_server" ] || [ "$(cat "$TOOLS_DIR/venv/moto.version" 2>/dev/null)" != "$MOTO_VERSION" ]; then
  log "installing moto $MOTO_VERSION into $TOOLS_DIR/venv"
  rm -rf "$TOOLS_DIR/venv"
  python3 -m venv "$TOOLS_DIR/venv"
  "$TOOLS_DIR/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  echo "$MOTO_VERSION" > "$TOOLS_DIR/venv/moto.version"
fi

# A real kube-apiserver on embedded etcd (tests/kube-apiserver), rebuilt only when its sources change.
kube_src="$(cd "$(dirname "$0")/.." && pwd)/tests/kube-apiserver"
kube_hash="$(cat "$kube_src/main.go" "$kube_src/go.mod" "$kube_src/go.sum" "$kube_src/build.sh" | sha256sum | cut -c1-16)"
if [ ! -x "$TOOLS_DIR/bin/kube-apiserver-test" ] || [ "$(cat "$TOOLS_DIR/bin/kube-apiserver-test.hash" 2>/dev/null)" != "$kube_hash" ]; then
  log "building the test kube-apiserver (k8s.io/kubernetes v1.32, embedded etcd; ~4 min cold)"
  sh "$kube_src/build.sh" "$TOOLS_DIR/bin/kube-apiserver-test"
  echo "$kube_hash" > "$TOOLS_DIR/bin/kube-apiserver-test.hash"
fi

# The Go template oracle (tests/gotemplate-oracle): real text/template with Sprig v3.3.0's
# hermetic functions over Flux-shaped data; the integration tests check the template goldens
# under testdata/ with it. Rebuilt only when its sources change.
oracle_src="$(cd "$(dirname "$0")/.." && pwd)/tests/gotemplate-oracle"
oracle_hash="$(find "$oracle_src" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
if [ ! -x "$TOOLS_DIR/bin/gotemplate-oracle" ] || [ "$(cat "$TOOLS_DIR/bin/gotemplate-oracle.hash" 2>/dev/null)" != "$oracle_hash" ]; then
  log "building the Go template oracle (text/template + Sprig v3.3.0)"
  command -v go >/dev/null || { log "Go is required to build the template oracle (https://go.dev/doc/install)"; exit 1; }
  (cd "$oracle_src" && go build -trimpath -o "$TOOLS_DIR/bin/gotemplate-oracle" .)
  echo "$oracle_hash" > "$TOOLS_DIR/bin/gotemplate-oracle.hash"
fi

# kubectl renders kustomize overlays for the applier (`kubectl kustomize`) and shows
# printer columns in the controller tests. Machines of this kind carry kubectl 1.32
# (../shared/TESTING.md); fail here, naming it, rather than in the middle of the tests.
if ! command -v kubectl >/dev/null; then
  log "kubectl (1.32, with its built-in kustomize) is needed by the applier and controller tests: install it from https://kubernetes.io/docs/tasks/tools/"
  exit 1
fi

# Bounded fuzzing (scripts/fuzz.sh) runs cargo-fuzz on the nightly toolchain that
# rustup installs on machines of this kind; cargo-fuzz itself comes from crates.io.
if ! cargo +nightly --version >/dev/null 2>&1; then
  log "a nightly Rust toolchain is needed for scripts/fuzz.sh (rustup toolchain install nightly)"
  exit 1
fi
if [ ! -x "$TOOLS_DIR/bin/cargo-fuzz" ] && ! command -v cargo-fuzz >/dev/null; then
  log "installing cargo-fuzz into $TOOLS_DIR"
  cargo install --quiet --locked --root "$TOOLS_DIR" cargo-fuzz
fi

# Supply-chain checks (scripts/deny.sh): cargo-deny from crates.io, cached.
if [ ! -x "$TOOLS_DIR/bin/cargo-deny" ] && ! command -v cargo-deny >/dev/null; then
  log "installing cargo-deny into $TOOLS_DIR (a few minutes, once)"
  cargo install --quiet --locked --root "$TOOLS_DIR" cargo-deny
fi

log "tools ready in $TOOLS_DIR"
