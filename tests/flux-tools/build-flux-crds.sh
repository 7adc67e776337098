#!/bin/sh
# Generates Flux's own CRDs for the kinds tagpilot serves (ImageRepository, ImagePolicy,
# ImageUpdateAutomation, GitRepository) with controller-gen, from Flux's published API
# modules, pinned in go.mod next to this script (the versions flux2 v2.9.5 builds with):
#   github.com/fluxcd/image-reflector-controller/api   v1.2.5
#   github.com/fluxcd/image-automation-controller/api v1.2.5
#   github.com/fluxcd/source-controller/api           v1.9.5
#   github.com/fluxcd/notification-controller/api     v1.9.4 (Receiver, for `controller --receivers`)
#   sigs.k8s.io/controller-tools (controller-gen)     v0.23.0
# Writes $1/bin/controller-gen and $1/flux-crds/*.yaml (GitRepository's only, of
# source-controller's kinds; Receiver's only, of notification-controller's).
set -eu
tools="$1"
cd "$(dirname "$0")"
mkdir -p "$tools/bin"
go build -trimpath -o "$tools/bin/controller-gen" sigs.k8s.io/controller-tools/cmd/controller-gen
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for api in github.com/fluxcd/image-reflector-controller/api github.com/fluxcd/image-automation-controller/api \
  github.com/fluxcd/source-controller/api github.com/fluxcd/notification-controller/api; do
  # Every served version: `$api/...` would match only the packages this module imports.
  "$tools/bin/controller-gen" crd:crdVersions=v1 paths="{$api/v1,$api/v1beta2,$api/v1beta1}" output:crd:dir="$out"
done
rm -rf "$tools/flux-crds.new"
mkdir -p "$tools/flux-crds.new"
for kind in image.toolkit.fluxcd.io_imagerepositories image.toolkit.fluxcd.io_imagepolicies \
  image.toolkit.fluxcd.io_imageupdateautomations source.toolkit.fluxcd.io_gitrepositories \
  notification.toolkit.fluxcd.io_receivers; do
  [ -s "$out/$kind.yaml" ] || { echo "controller-gen wrote no $kind.yaml" >&2; exit 1; }
  cp "$out/$kind.yaml" "$tools/flux-crds.new/"
done
rm -rf "$tools/flux-crds"
mv "$tools/flux-crds.new" "$tools/flux-crds"
