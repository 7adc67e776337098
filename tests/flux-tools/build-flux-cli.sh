#!/bin/sh
# Builds the real `flux` CLI (github.com/fluxcd/flux2/v2, pinned below) from the Go
# module proxy into $1. `go install …/cmd/flux@VERSION` is refused (flux2's go.mod has a
# replace directive), so: download the module, build in a writable copy. `cmd/flux`
# embeds `cmd/flux/manifests/` for `flux install`, which the tests never run: one
# placeholder YAML satisfies the embed. About 5 minutes cold on 2 cores.
set -eu
FLUX_VERSION=v2.9.5
out="$1"
dir="$(go mod download -json "github.com/fluxcd/flux2/v2@$FLUX_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[ -d "$dir" ] || { echo "cannot download github.com/fluxcd/flux2/v2@$FLUX_VERSION" >&2; exit 1; }
work="$(mktemp -d)"
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -R "$dir/." "$work/"
chmod -R u+w "$work"
mkdir -p "$work/cmd/flux/manifests"
printf '# placeholder: `flux install` is not used by the tests\napiVersion: v1\nkind: List\nitems: []\n' > "$work/cmd/flux/manifests/placeholder.yaml"
cd "$work"
go build -trimpath -ldflags "-s -w -X main.VERSION=${FLUX_VERSION#v}" -o "$out" ./cmd/flux
