#!/usr/bin/env bash
# Build the local control plane's binaries from Go modules, once per pin set.
#
# Why from source: no Docker engine, no registry and no release downloads
# exist on these machines, but the Go module proxy does. Binaries land in a
# cache outside the repo, keyed by the pins and the wrapper go.sum files, so a
# warm run only checks stamps and exits within seconds.
#
# Usage: hack/build-k8s.sh            prints the bin directory on stdout's last line
set -euo pipefail
HACK=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$HACK/versions.env"
CACHE=${MLMODEL_CACHE:-$HOME/.cache/mlmodel-operator}
KEY=$(cat "$HACK/versions.env" "$HACK/k8s/go.sum" "$HACK/etcd/go.sum" "$0" | sha256sum | cut -c1-12)
BIN="$CACHE/k8s-v$K8S_VERSION-$KEY/bin"
mkdir -p "$BIN"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$BIN"
log() { echo "[build-k8s] $*" >&2; }

# Version stamps: without them /version says v0.0.0 and helm/kwok reject it.
K8S_MINOR=${K8S_VERSION#*.}; K8S_MINOR=${K8S_MINOR%%.*}
k8s_ldflags() {
  local f="" pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
    f+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "-s -w$f"
}

build_in() {  # build_in DIR NAME PKG LDFLAGS: build one main package inside a wrapper module
  local dir=$1 name=$2 pkg=$3 ldflags=$4
  if [[ -x "$BIN/$name" ]]; then log "$name: cached"; return; fi
  log "$name: building $pkg (a cold build takes minutes)"
  (cd "$HACK/$dir" && go build -trimpath -ldflags "$ldflags" -o "$BIN/$name.tmp" "$pkg")
  mv "$BIN/$name.tmp" "$BIN/$name"
}

install_at() {  # install_at NAME PKG@VERSION LDFLAGS: modules without replaces go-install directly
  local name=$1 pkg=$2 ldflags=$3
  if [[ -x "$BIN/$name" ]]; then log "$name: cached"; return; fi
  log "$name: installing $pkg"
  go install -trimpath -ldflags "$ldflags" "$pkg"
}

for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
  build_in k8s "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$(k8s_ldflags)"
done
build_in etcd etcd go.etcd.io/etcd/server/v3 "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=v$ETCD_VERSION"
install_at kwok "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=v$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=v$K8S_VERSION"
install_at helm "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" \
  "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
# crictl: the real node's teardown removes pod sandboxes through CRI, so the CNI plugins
# undo their own network namespaces, veths, iptables rules and IP leases.
install_at crictl "sigs.k8s.io/cri-tools/cmd/crictl@v$CRICTL_VERSION" "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=v$CRICTL_VERSION"
# metrics-server: the real node's CPU and memory for the HPA and `kubectl top`; its Makefile
# stamps the version into client-go's version package.
install_at metrics-server "sigs.k8s.io/metrics-server/cmd/metrics-server@v$METRICS_SERVER_VERSION" \
  "-s -w -X k8s.io/client-go/pkg/version.gitVersion=v$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean"
log "all binaries ready in $BIN"
echo "$BIN"
