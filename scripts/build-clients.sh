#!/usr/bin/env bash
# Builds the real clients the end-to-end suites drive: kubectl from the
# k8s.io/kubectl module (e2e/cmd/kubectl) and helm v3. Skips what exists.
set -euo pipefail
bin="${1:?usage: build-clients.sh <bin-dir>}"
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$bin"
if [ ! -x "$bin/kubectl" ]; then
  ver=v1.37.2
  ld="-X k8s.io/client-go/pkg/version.gitVersion=$ver -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
  ld="$ld -X k8s.io/component-base/version.gitVersion=$ver -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
  (cd "$root/e2e" && go build -ldflags "$ld" -o "$bin/kubectl" ./cmd/kubectl)
fi
if [ ! -x "$bin/helm" ]; then
  GOWORK=off GOBIN="$bin" go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi
