#!/usr/bin/env bash
# Builds helm from its pinned Go module (helm.sh/helm/v3) into ~/.cache/loraplane; prints its path.
set -euo pipefail
# shellcheck source=../lib/go-tool.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/go-tool.sh"

HELM_VERSION="${HELM_VERSION:-v3.22.0}"

# As helm's Makefile does: the version it reports, and the Kubernetes version `helm template` and
# `helm lint` assume (.Capabilities.KubeVersion) taken from the client-go it is built with.
helm_ldflags() {
  local k8s k8s_minor ld pkg
  k8s=$(go list -m -f '{{.Version}}' k8s.io/client-go)   # v0.MINOR.PATCH
  k8s_minor="${k8s#v0.}"; k8s_minor="${k8s_minor%%.*}"
  ld="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld="$ld -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  echo "$ld"
}

go_tool helm helm.sh/helm/v3 "$HELM_VERSION" helm.sh/helm/v3/cmd/helm helm_ldflags
