#!/usr/bin/env bash
# Build KServe's controller manager (its cmd/manager) from its Go module, for the control-plane
# benchmark's peer (benchmarks/peers/kserve_controller.py, `controlplane.py --peer kserve`).
#
# Why from the module: no image registry or release download is reachable here, but the Go
# module proxy serves github.com/kserve/kserve at exact versions (its version list is refused,
# so the version is named here). The module holds the manager's source and the install's
# CRDs and inferenceservice-config ConfigMap; nothing of it enters this repository. The module
# is copied out of the read-only module cache and built with its own go.mod (its replace
# directives rule out `go install pkg@version`). A warm run only checks the binary and exits.
#
# Usage: hack/build-kserve.sh     prints DIR on stdout's last line: DIR/bin/manager, DIR/src/config
# (the module's config/ only; the rest of its source is removed after the build)
set -euo pipefail
KSERVE_VERSION=${KSERVE_VERSION:-0.20.0}
CACHE=${MLMODEL_CACHE:-$HOME/.cache/mlmodel-operator}
KEY=$( (echo "$KSERVE_VERSION"; cat "$0") | sha256sum | cut -c1-12)
ROOT="$CACHE/kserve-v$KSERVE_VERSION-$KEY"
log() { echo "[build-kserve] $*" >&2; }

if [[ -x "$ROOT/bin/manager" && -d "$ROOT/src/config" ]]; then
  log "manager: cached"
  echo "$ROOT"
  exit 0
fi
MOD="github.com/kserve/kserve@v$KSERVE_VERSION"
log "downloading $MOD from the Go module proxy"
# Outside any main module, so neither this repo's nor a caller's go.mod is involved.
SRC_DIR=$(cd / && GOFLAGS=-mod=mod go mod download -json "$MOD" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[[ -d "$SRC_DIR" ]] || { log "no module directory for $MOD"; exit 1; }
mkdir -p "$ROOT/bin"
rm -rf "$ROOT/src.tmp"
cp -r "$SRC_DIR" "$ROOT/src.tmp"
chmod -R u+w "$ROOT/src.tmp"
rm -rf "$ROOT/src" && mv "$ROOT/src.tmp" "$ROOT/src"
log "manager: building $MOD/cmd/manager (a cold build took 215 s on 2 cores, downloads included)"
start=$(date +%s)
(cd "$ROOT/src" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
  nice -n 19 go build -trimpath -ldflags "-s -w" -o "$ROOT/bin/manager.tmp" ./cmd/manager)
mv "$ROOT/bin/manager.tmp" "$ROOT/bin/manager"
# Keep only what the benchmark installs from (config/: CRDs, ConfigMap, webhooks): 10 of 440 MB.
find "$ROOT/src" -mindepth 1 -maxdepth 1 ! -name config -exec rm -rf {} +
log "manager built in $(($(date +%s) - start)) s: $ROOT/bin/manager"
echo "$ROOT"
