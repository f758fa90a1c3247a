#!/usr/bin/env bash
# Regenerate this wrapper module for a Kubernetes release.
# Why: k/k's go.mod replaces its staging modules with ./staging paths, so
# `go install k8s.io/kubernetes/cmd/...@vX` refuses; we replace each staging
# module with its published v0.X.Y tag instead (kubernetes/kubernetes#79384).
set -euo pipefail
cd "$(dirname "$0")"
V=${1:?usage: gen-gomod.sh 1.35.4}
GM=$(go mod download -json "k8s.io/kubernetes@v$V" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
rm -f go.mod go.sum
go mod init mlmodel.dev/hack/k8s
go mod edit -go=1.26
grep -o '^godebug .*' "$GM" | while read -r _ kv; do go mod edit -godebug="$kv"; done
for m in $(sed -n 's|^\s*\(k8s.io/[^ ]*\) => \./staging/.*|\1|p' "$GM"); do
  go mod edit -replace="$m=$m@v0.${V#1.}"
done
go get "k8s.io/kubernetes@v$V"
go mod tidy
