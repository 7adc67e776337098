#!/bin/sh
# Build the test kube-apiserver (k8s.io/kubernetes v1.32.13 + embedded etcd 3.5.16).
set -eu
cd "$(dirname "$0")"
V=v1.32.13
LD=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LD="$LD -X $p.gitVersion=$V -X $p.gitMajor=1 -X $p.gitMinor=32 -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
exec go build -trimpath -ldflags "-s -w $LD" -o "${1:-bin/kube-apiserver-test}" .
