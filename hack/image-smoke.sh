#!/usr/bin/env bash
# Smoke-tests the image built by hack/build-image.sh without a container engine:
# buildah runs the image's own ENTRYPOINT (chroot isolation, host network, the
# image's user 65532) in a throw-away working container.
#
#   hack/image-smoke.sh [IMAGE]      # default localhost/mlmodel-operator:<version>
#
# Checks, in order:
#   1. image config: ENTRYPOINT is the exec form ["mlmodel"], numeric non-root user,
#      no pip / compilers / tests in the runtime venv
#   2. `mlmodel --version`, `mlmodel fetch --help`, `mlmodel operator --help`, and
#      the operator's imports (kopf, kubernetes client)
#   3. `mlmodel fetch --file` of a fixture model: sha256 check + LiteRT summary
#   4. `mlmodel serve` of tests/fixtures/models/classifier_uint8.tflite (mounted
#      read-only at /models) in a container whose shells are deleted; polls
#      GET /v2/health/ready on 127.0.0.1, prints the time to ready (from the
#      `buildah run` call and from the server process's own start), then runs one
#      inference and loads the test page.
# Prints "image smoke: OK" last; any failure exits non-zero.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)
IMAGE=${1:-${IMAGE:-localhost/mlmodel-operator:$VERSION}}
PORT=${PORT:-18931}
MODELS=$ROOT/tests/fixtures/models
MODEL=classifier_uint8.tflite

bh() { buildah --storage-driver vfs "$@"; }
step() { printf '\n=== %s\n' "$*" >&2; }
fail() { echo "image smoke: FAIL: $*" >&2; exit 1; }

ctrs=()
server_pid=""
run_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null || true
  [[ -n $run_pid ]] && { sleep 1; kill "$run_pid" 2>/dev/null || true; }
  for c in "${ctrs[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

new_ctr() {
  local c
  c=$(bh from --pull-never "$IMAGE")
  ctrs+=("$c")
  echo "$c"
}

step "image config ($IMAGE)"
bh inspect --type image "$IMAGE" >/dev/null || fail "no image $IMAGE: run hack/build-image.sh"
config=$(bh inspect --type image --format '{{.OCIv1.Config.Entrypoint}}|{{.OCIv1.Config.User}}' "$IMAGE")
echo "entrypoint|user: $config"
[[ $config == "[mlmodel]|65532:65532" ]] || fail "want ENTRYPOINT [\"mlmodel\"] and USER 65532:65532, got $config"
mapfile -t entrypoint < <(bh inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
bh images --format 'size: {{.Size}}' "$IMAGE"

ctr=$(new_ctr)
# Runs the image's ENTRYPOINT with arguments, as the image's user.
run_ep() { bh run --isolation chroot -v "$MODELS:/models:ro" "$ctr" -- "${entrypoint[@]}" "$@"; }
run_py() { bh run --isolation chroot "$ctr" -- python3 -c "$1"; }

run_py '
import importlib.util, os, shutil, sys, sysconfig
site = sysconfig.get_paths()["purelib"]
problems = []
if os.getuid() != 65532 or os.getgid() != 65532:
    problems.append(f"runs as {os.getuid()}:{os.getgid()}")
if sys.prefix != "/opt/venv":
    problems.append(f"python is not the venv: {sys.prefix}")
for mod in ("pip", "setuptools", "pytest", "tests"):
    if importlib.util.find_spec(mod) is not None:
        problems.append(f"{mod} importable")
for tool in ("gcc", "cc", "g++", "clang", "make"):
    if shutil.which(tool):
        problems.append(f"{tool} on PATH")
for path in ("/root/.cache/pip", "/src", "/wheels", "/opt/build-venv"):
    if os.path.exists(path):
        problems.append(f"{path} exists")
print("uid", os.getuid(), "python", sys.version.split()[0], "prefix", sys.prefix)
sys.exit("; ".join(problems) if problems else 0)
' || fail "runtime stage is not minimal"

step "subcommands through the ENTRYPOINT"
run_ep --version
run_ep fetch --help >/dev/null && echo "mlmodel fetch --help: ok"
run_ep operator --help >/dev/null && echo "mlmodel operator --help: ok"
run_ep serve --help >/dev/null && echo "mlmodel serve --help: ok"
run_py 'import kopf, mlmodel_operator.main; from kubernetes import client, config; from kubernetes.client import ApiException; print("operator imports: ok (kopf", kopf.__version__ if hasattr(kopf, "__version__") else "", ")")'

step "mlmodel fetch --file (sha256 + LiteRT summary)"
digest=$(sha256sum "$MODELS/$MODEL" | cut -d' ' -f1)
run_ep fetch --file "/models/$MODEL" --sha256 "$digest" --dest /tmp/fetched
run_ep fetch --file "/models/$MODEL" --sha256 "$(printf '0%.0s' {1..64})" --dest /tmp/bad 2>&1 \
  && fail "fetch accepted a wrong digest" || echo "wrong digest rejected: ok"

step "mlmodel serve in a container without any shell"
sctr=$(new_ctr)
mnt=$(bh mount "$sctr")
removed=()
for sh in bin/sh bin/bash bin/dash bin/rbash usr/bin/sh usr/bin/bash usr/bin/dash usr/bin/rbash; do
  if [[ -e $mnt/$sh || -L $mnt/$sh ]]; then rm -f "${mnt:?}/$sh"; removed+=("/$sh"); fi
done
bh umount "$sctr" >/dev/null
echo "deleted from the container: ${removed[*]:-nothing}"

if python3 - "$PORT" <<'EOF'; then fail "port $PORT already in use on 127.0.0.1"; fi
import socket, sys
s = socket.socket()
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF

log=$(mktemp)
t0=$(date +%s.%N)
bh run --isolation chroot -v "$MODELS:/models:ro" "$sctr" -- "${entrypoint[@]}" \
  serve --model "/models/$MODEL" --name classifier --host 127.0.0.1 --port "$PORT" >"$log" 2>&1 &
run_pid=$!

python3 - "$PORT" "$run_pid" "$t0" <<'EOF' || { cat "$log" >&2; fail "serve never became ready"; }
"""Poll readiness, then time it from the buildah call and from the server's exec."""
import json, os, sys, time, urllib.request

port, run_pid, t0 = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
base = f"http://127.0.0.1:{port}"


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def server_pid():
    """The descendant of `buildah run` whose command line is ... mlmodel serve ..."""
    todo, seen = [run_pid], []
    while todo:
        pid = todo.pop()
        for child in children(pid):
            todo.append(child)
            try:
                cmd = open(f"/proc/{child}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and any(part.endswith(b"mlmodel") for part in cmd):
                seen.append(child)
    return seen[-1] if seen else None


deadline = time.time() + 60
while True:
    try:
        with urllib.request.urlopen(base + "/v2/health/ready", timeout=1) as r:
            if r.status == 200:
                break
    except OSError:
        pass
    if time.time() > deadline or not os.path.exists(f"/proc/{run_pid}"):
        sys.exit(1)
    time.sleep(0.01)
t_ready = time.time()
with open("/proc/uptime") as f:
    uptime_ready = float(f.read().split()[0])

pid = server_pid()
from_exec = None
if pid:
    with open(f"/proc/{pid}/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    from_exec = uptime_ready - start_ticks / os.sysconf("SC_CLK_TCK")
    print(f"server pid {pid} (uid {os.stat(f'/proc/{pid}').st_uid})")
print(f"ready: {t_ready - t0:.2f} s from `buildah run`, "
      + (f"{from_exec:.2f} s from the server process's start" if from_exec is not None else "process not found"))

with urllib.request.urlopen(base + "/v2/models/classifier") as r:
    meta = json.load(r)
inp = meta["inputs"][0]
count = 1
for dim in inp["shape"]:
    count *= max(int(dim), 1)
body = {"inputs": [{"name": inp["name"], "datatype": inp["datatype"],
                    "shape": [max(int(d), 1) for d in inp["shape"]], "data": [0] * count}]}
req = urllib.request.Request(base + "/v2/models/classifier/infer", data=json.dumps(body).encode(),
                             headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req) as r:
    out = json.load(r)["outputs"][0]
print(f"infer: input {inp['name']} {inp['datatype']} {inp['shape']} -> output {out['name']} shape {out['shape']}")
with urllib.request.urlopen(base + "/") as r:
    assert r.status == 200 and "text/html" in r.headers["content-type"], r.headers
print("test page: ok")
EOF
sed 's/^/  server: /' "$log"
# Stop the server process we started (found under our `buildah run`).
server_pid=$(python3 - "$run_pid" <<'EOF'
import os, sys
root = int(sys.argv[1])
tree = {root}
changed = True
while changed:
    changed = False
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) not in tree:
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid in tree:
                tree.add(int(entry)); changed = True
for pid in sorted(tree - {root}):
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
    except OSError:
        continue
    if b"serve" in cmd and any(p.endswith(b"mlmodel") for p in cmd):
        print(pid)
        break
EOF
)
[[ -n $server_pid ]] && kill -TERM "$server_pid"
for _ in $(seq 50); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$run_pid" 2>/dev/null; then fail "serve did not stop on SIGTERM"; fi
wait "$run_pid" || true
run_pid="" server_pid=""
echo "serve stopped on SIGTERM: ok"

echo "image smoke: OK"
