#!/usr/bin/env bash
# Regenerate this wrapper module for an etcd release.
# Why: etcd/server/v3's go.mod replaces its sibling modules with ../ paths;
# requiring every sibling at the same published tag builds it from the proxy.
set -euo pipefail
cd "$(dirname "$0")"
V=${1:?usage: gen-gomod.sh 3.6.16}
rm -f go.mod go.sum
go mod init mlmodel.dev/hack/etcd
go mod edit -go=1.26
for m in server/v3 api/v3 client/pkg/v3 client/v3 pkg/v3; do
  go mod edit -require="go.etcd.io/etcd/$m@v$V"
done
go mod tidy
