#!/usr/bin/env bash
# Installs everything tagpilot's tests start for real, on a Debian 12 machine (root):
#   - Debian packages: docker-registry (distribution 2.8), apache2-utils (htpasswd),
#     openssh-server, lighttpd (+ mod-openssl for git over https), skopeo, git, openssl,
#     the -dev libraries git2 links against; tinyproxy (a forward proxy);
#   - distribution v3 (it paginates tags/list), built from the Go module proxy;
#   - cosign v2 (signs test images for `spec.verify`), built from the Go module proxy;
#   - the moto server (the ECR API), from PyPI in a venv;
#   - a kube-apiserver with embedded etcd (tests/kube-apiserver), built from the Go module proxy;
#   - the Flux policy oracle (tests/policy-oracle), built from the Go module proxy;
#   - the Go template oracle (tests/gotemplate-oracle: text/template + Sprig), from the Go module proxy;
#   - Gitea (the forge of the pull-request tests), built from the Go module proxy;
#   - Flux's CRDs (controller-gen over Flux's API modules) and the `flux` CLI (tests/flux-tools);
#   - cargo-fuzz, from crates.io (for the bounded fuzz run);
#   - cargo-deny, from crates.io (licenses, bans, sources, advisories).
# Everything but the Debian packages goes under $TAGPILOT_TOOLS_DIR
# (default ~/.cache/tagpilot-tools), so a second run does nothing and takes about a second.
set -euo pipefail

TOOLS_DIR="${TAGPILOT_TOOLS_DIR:-$HOME/.cache/tagpilot-tools}"
DISTRIBUTION_V3_VERSION="v3.1.2"
MOTO_VERSION="5.2.5"
CARGO_FUZZ_VERSION="0.13.2"
CARGO_DENY_VERSION="0.20.2"
GITEA_VERSION="v1.27.3"
COSIGN_VERSION="v2.6.5"

log() { printf '[install] %s\n' "$*" >&2; }

# What must already be on the machine (docs/testing.md, "Prerequisites"): everything
# is checked first and reported together, so a fresh machine learns it in one run.
missing_prerequisites=()
command -v cargo >/dev/null || missing_prerequisites+=("Rust (stable >= 1.89, by rustup: https://rustup.rs)")
cargo +nightly --version >/dev/null 2>&1 ||
  missing_prerequisites+=("a nightly Rust toolchain for cargo-fuzz: rustup toolchain install nightly")
if ! command -v go >/dev/null; then
  missing_prerequisites+=("Go >= 1.23 (https://go.dev/doc/install): it builds distribution v3 and the test kube-apiserver")
elif ! printf '%s\n' "go1.23" "$(go env GOVERSION)" | sort -V -C; then
  missing_prerequisites+=("Go >= 1.23; this machine has $(go env GOVERSION)")
fi
# kubectl renders kustomize overlays for the applier (`kubectl kustomize`) and shows
# printer columns in the controller tests; machines of this kind carry kubectl 1.32.
command -v kubectl >/dev/null ||
  missing_prerequisites+=("kubectl 1.32 (with its built-in kustomize): https://kubernetes.io/docs/tasks/tools/")
command -v python3 >/dev/null || missing_prerequisites+=("python3 >= 3.9 (moto, the demo's image pusher)")
command -v apt-get >/dev/null || missing_prerequisites+=("apt-get (Debian 12): the test servers come from Debian's packages")
if ((${#missing_prerequisites[@]})); then
  for prerequisite in "${missing_prerequisites[@]}"; do log "missing: $prerequisite"; done
  exit 1
fi

apt_packages=(docker-registry apache2-utils openssh-server openssh-client lighttpd lighttpd-mod-openssl skopeo git
  openssl ca-certificates pkg-config libssl-dev libssh2-1-dev zlib1g-dev hyperfine python3-venv time curl)
# OpenPGP commit signing tests (gpg, git verify-commit); proxySecretRef tests (a real HTTP
# forward proxy, and a SOCKS5 proxy: Flux proxies ssh git through SOCKS5).
apt_packages+=(gnupg tinyproxy dante-server)
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

# cosign signs test images for ImagePolicy spec.verify (key-based, transparency log off).
# Measured cold (empty module cache for its dependencies): 12 min 47 s wall, 171 s CPU.
if [ ! -x "$TOOLS_DIR/bin/cosign" ] || [ "$(cat "$TOOLS_DIR/bin/cosign.version" 2>/dev/null)" != "$COSIGN_VERSION" ]; then
  log "building cosign $COSIGN_VERSION from the Go module proxy (~13 min cold)"
  gobin="$(mktemp -d)"
  GOBIN="$gobin" go install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
  mv "$gobin/cosign" "$TOOLS_DIR/bin/cosign"
  echo "$COSIGN_VERSION" > "$TOOLS_DIR/bin/cosign.version"
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

# Builds the Go program in tests/NAME (its go.mod pins every module) into the tools
# dir as bin/NAME-HASH, HASH naming its sources (every *.go, go.mod, go.sum in path
# order): checkouts that share the tools dir each find the build of their own
# sources (tests/common/go_programs.rs). bin/NAME points at the latest build.
build_go_program() { # build_go_program NAME WHAT
  local src hash
  src="$(cd "$(dirname "$0")/.." && pwd)/tests/$1"
  hash="$(find "$src" -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | LC_ALL=C sort -z | xargs -0 cat | sha256sum | cut -c1-16)"
  if [ ! -x "$TOOLS_DIR/bin/$1-$hash" ]; then
    log "building $2 (tests/$1)"
    (cd "$src" && go build -trimpath -o "$TOOLS_DIR/bin/$1-$hash" .)
  fi
  ln -sf "$1-$hash" "$TOOLS_DIR/bin/$1"
}
# Flux's policy code (fluxcd/pkg/version, Masterminds/semver v3.5) as an oracle for tests/policy_vs_flux.
build_go_program policy-oracle "the Flux policy oracle"
# Real text/template with Sprig v3.3.0's hermetic functions over Flux-shaped data: the
# integration tests check the template goldens under testdata/ with it.
build_go_program gotemplate-oracle "the Go template oracle (text/template + Sprig v3.3.0)"

# Gitea, the real forge of the pull-request tests (tests/integration/forge_gitea.rs). Its
# module (code.gitea.io/gitea, whose go.mod names it gitea.dev and has replace lines, so
# `go install` refuses it) is built in place: since 1.27 SQLite is the pure-Go driver
# (no cgo, no `sqlite sqlite_unlock_notify` tags); without the `bindata` tag (which needs
# the npm-built frontend) the binary reads options/ and templates/ from STATIC_ROOT_PATH,
# copied next to it. Cold (empty module and build caches): 22 s to download 1.5 GB of
# modules, 280 s of CPU to build (15 min wall on a shared 2-core machine at load 8-24);
# the binary is 110 MiB, the build cache 1.3 GB.
gitea_share="$TOOLS_DIR/share/gitea-$GITEA_VERSION"
if [ ! -x "$TOOLS_DIR/bin/gitea" ] || [ "$(cat "$TOOLS_DIR/bin/gitea.version" 2>/dev/null)" != "$GITEA_VERSION" ] || [ ! -d "$gitea_share/options" ]; then
  log "building Gitea $GITEA_VERSION from the Go module proxy (several minutes, once)"
  gitea_src="$(go mod download -json "code.gitea.io/gitea@$GITEA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
  [ -d "$gitea_src" ] || { log "go mod download code.gitea.io/gitea@$GITEA_VERSION gave no directory"; exit 1; }
  (cd "$gitea_src" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$TOOLS_DIR/bin/gitea.new" .)
  rm -rf "$gitea_share" && mkdir -p "$gitea_share"
  cp -r "$gitea_src/options" "$gitea_src/templates" "$gitea_share/"
  chmod -R u+w "$gitea_share"
  mv "$TOOLS_DIR/bin/gitea.new" "$TOOLS_DIR/bin/gitea"
  echo "$GITEA_VERSION" > "$TOOLS_DIR/bin/gitea.version"
fi

# Flux's own CRDs (controller-gen v0.23.0 over Flux's API modules) and the real `flux` CLI
# (v2.9.5), for the --flux-compat tests (tests/flux-tools; each rebuilt only when its script
# or the pinned versions change; the CLI takes ~5 min cold, the CRDs ~1 min).
flux_tools="$(cd "$(dirname "$0")/.." && pwd)/tests/flux-tools"
flux_crds_hash="$(cat "$flux_tools/build-flux-crds.sh" "$flux_tools/go.mod" "$flux_tools/go.sum" "$flux_tools/tools.go" | sha256sum | cut -c1-16)"
if [ "$(cat "$TOOLS_DIR/flux-crds.hash" 2>/dev/null)" != "$flux_crds_hash" ] || [ ! -d "$TOOLS_DIR/flux-crds" ]; then
  log "generating Flux's CRDs with controller-gen (tests/flux-tools)"
  sh "$flux_tools/build-flux-crds.sh" "$TOOLS_DIR"
  echo "$flux_crds_hash" > "$TOOLS_DIR/flux-crds.hash"
fi
flux_cli_hash="$(sha256sum < "$flux_tools/build-flux-cli.sh" | cut -c1-16)"
if [ "$(cat "$TOOLS_DIR/bin/flux.hash" 2>/dev/null)" != "$flux_cli_hash" ] || [ ! -x "$TOOLS_DIR/bin/flux" ]; then
  log "building the flux CLI (tests/flux-tools/build-flux-cli.sh; ~5 min cold)"
  sh "$flux_tools/build-flux-cli.sh" "$TOOLS_DIR/bin/flux"
  echo "$flux_cli_hash" > "$TOOLS_DIR/bin/flux.hash"
fi

# Bounded fuzzing (scripts/fuzz.sh) runs cargo-fuzz (from crates.io) on the nightly toolchain.
if [ "$(cat "$TOOLS_DIR/bin/cargo-fuzz.version" 2>/dev/null)" != "$CARGO_FUZZ_VERSION" ] || [ ! -x "$TOOLS_DIR/bin/cargo-fuzz" ]; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $TOOLS_DIR"
  cargo install --quiet --locked --force --root "$TOOLS_DIR" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
  echo "$CARGO_FUZZ_VERSION" > "$TOOLS_DIR/bin/cargo-fuzz.version"
fi

# Supply-chain checks (scripts/deny.sh): cargo-deny from crates.io, cached.
if [ "$(cat "$TOOLS_DIR/bin/cargo-deny.version" 2>/dev/null)" != "$CARGO_DENY_VERSION" ] || [ ! -x "$TOOLS_DIR/bin/cargo-deny" ]; then
  log "installing cargo-deny $CARGO_DENY_VERSION into $TOOLS_DIR (a few minutes, once)"
  cargo install --quiet --locked --force --root "$TOOLS_DIR" cargo-deny --version "$CARGO_DENY_VERSION"
  echo "$CARGO_DENY_VERSION" > "$TOOLS_DIR/bin/cargo-deny.version"
fi

log "tools ready in $TOOLS_DIR"
