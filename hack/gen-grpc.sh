#!/usr/bin/env bash
# Generates the Python code of the Open Inference Protocol's gRPC messages from
# server/mlmodel_server/proto/grpc_predict_v2.proto (messages and type stubs; the
# service's handlers are registered by hand in api/grpc_oip.py).
#
#   hack/gen-grpc.sh            # rewrite the committed grpc_predict_v2_pb2.py and .pyi
#   hack/gen-grpc.sh OUT_DIR    # write them to OUT_DIR instead (the staleness test does)
#
# Uses grpcio-tools from the Python in $PYTHON (default: the project's .venv), pinned in
# pyproject's test extras so every run writes the same bytes.
#
# The messages go into a descriptor pool of their own, not protobuf's default pool:
# tritonclient and KServe register the same `inference.*` names there, so a process that
# imports one of them and the server (the test run, a program embedding the server) would
# fail with "duplicate symbol". Only the message names are shared; the wire is unchanged.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PROTO_DIR=$ROOT/server/mlmodel_server/proto
OUT=${1:-$PROTO_DIR}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}

mkdir -p "$OUT"
"$PYTHON" -m grpc_tools.protoc -I "$PROTO_DIR" --python_out="$OUT" --pyi_out="$OUT" grpc_predict_v2.proto
sed -i 's/_descriptor_pool\.Default()/_descriptor_pool.DescriptorPool()/' "$OUT/grpc_predict_v2_pb2.py"
grep -q '_descriptor_pool.DescriptorPool()' "$OUT/grpc_predict_v2_pb2.py" ||
  { echo "gen-grpc: protoc's output no longer adds the file to a pool; update this script" >&2; exit 1; }
