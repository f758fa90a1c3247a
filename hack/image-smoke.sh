#!/usr/bin/env bash
# Smoke-tests the image built by hack/build-image.sh without a container engine:
# buildah runs the image's own ENTRYPOINT (chroot isolation, host network, the
# image's user 65532) in a throw-away working container (hack/ctr-run.sh, which runs
# another architecture's image under qemu; hack/image-smoke-arm64.sh).
#
#   hack/image-smoke.sh [IMAGE]      # default localhost/mlmodel-operator:<version>
#
# Checks, in order:
#   1. image config: ENTRYPOINT is the exec form ["mlmodel"], numeric non-root user,
#      no pip / compilers / tests in the runtime venv
#   2. `mlmodel --version`, `mlmodel fetch --help`, `mlmodel operator --help`, and
#      the operator's imports (kopf, lightkube, the operator's client)
#   3. `mlmodel fetch --file` of a fixture model: sha256 check + LiteRT summary
#   4. `mlmodel serve` of tests/fixtures/models/classifier_uint8.tflite (mounted
#      read-only at /models) in a container whose shells are deleted; polls
#      GET /v2/health/ready on 127.0.0.1, prints the time to ready (from the
#      `buildah run` call and from the server process's own start), then runs one
#      inference and loads the test page; SIGTERM must stop it.
# Prints "image smoke: OK" last; any failure exits non-zero.
#
# Environment: PORT (default 18931), SMOKE_READY_RUNS (serve N times and print
# min/median/max time to ready; default 1), SMOKE_TIMEOUT (seconds allowed to become
# ready and to stop after SIGTERM; default 60, hack/image-smoke-arm64.sh raises it for
# emulation), STORAGE_DRIVER (as for build-image.sh).
# Needs root (buildah mount/run), python3 and sha256sum on the host.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)
IMAGE=${1:-${IMAGE:-localhost/mlmodel-operator:$VERSION}}
PORT=${PORT:-18931}
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-60}
MODELS=$ROOT/tests/fixtures/models
MODEL=classifier_uint8.tflite

# shellcheck source=hack/buildah.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildah.sh"  # STORAGE_DRIVER and bh

step() { printf '\n=== %s\n' "$*" >&2; }
fail() { echo "image smoke: FAIL: $*" >&2; exit 1; }

ctrs=()
server_pid=""
run_pid=""
helper="" log="" ctr="" sctr=""
cleanup() {
  rm -f "$helper" "$log"
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  if [[ -n $run_pid ]]; then sleep 1; kill "$run_pid" 2>/dev/null || true; fi
  for c in "${ctrs[@]}"; do bh rm "$c" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# A throw-away working container named in this shell, so cleanup can remove it.
new_ctr() {
  local name
  name=mlmodel-smoke-$$-${#ctrs[@]}
  ctrs+=("$name")
  bh from --pull-never --arch "$image_arch" --name "$name" "$IMAGE" >/dev/null
  printf -v "$1" %s "$name"
}

step "image config ($IMAGE)"
bh inspect --type image "$IMAGE" >/dev/null || fail "no image $IMAGE: run hack/build-image.sh"
image_arch=$(bh inspect --type image --format '{{.OCIv1.Architecture}}' "$IMAGE")
echo "platform: linux/$image_arch"
config=$(bh inspect --type image --format '{{.OCIv1.Config.Entrypoint}}|{{.OCIv1.Config.User}}' "$IMAGE")
echo "entrypoint|user: $config"
[[ $config == "[mlmodel]|65532:65532" ]] || fail "want ENTRYPOINT [\"mlmodel\"] and USER 65532:65532, got $config"
mapfile -t entrypoint < <(bh inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$IMAGE" | sed '/^$/d')
bh images --format 'size: {{.Size}}' "$IMAGE"

new_ctr ctr
# Runs the image's ENTRYPOINT with arguments, as the image's user.
run_ep() { "$ROOT/hack/ctr-run.sh" "$ctr" -v "$MODELS:/models:ro" -- "${entrypoint[@]}" "$@"; }
run_py() { "$ROOT/hack/ctr-run.sh" "$ctr" -- python3 -c "$1"; }

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
run_py 'import importlib.metadata as md, kopf, lightkube, mlmodel_operator.main; from mlmodel_operator.k8s.client import ApiError, Kube; from mlmodel_operator.k8s.login import connection_info; print("operator imports: ok (kopf", md.version("kopf") + ", lightkube", md.version("lightkube") + ")")'

step "mlmodel fetch --file (sha256 + LiteRT summary)"
digest=$(sha256sum "$MODELS/$MODEL" | cut -d' ' -f1)
run_ep fetch --file "/models/$MODEL" --sha256 "$digest" --dest /tmp/fetched
if out=$(run_ep fetch --file "/models/$MODEL" --sha256 "$(printf '0%.0s' {1..64})" --dest /tmp/bad 2>&1); then
  fail "fetch accepted a wrong digest"
fi
grep -q '^mlmodel fetch: error: sha256 mismatch' <<<"$out" || fail "unexpected fetch failure: $out"
echo "wrong digest rejected: ok"

step "mlmodel serve in a container without any shell"
new_ctr sctr
mnt=$(bh mount "$sctr")
removed=()
for sh in bin/sh bin/bash bin/dash bin/rbash usr/bin/sh usr/bin/bash usr/bin/dash usr/bin/rbash; do
  if [[ -e $mnt/$sh || -L $mnt/$sh ]]; then rm -f "${mnt:?}/$sh"; removed+=("/$sh"); fi
done
bh umount "$sctr" >/dev/null
echo "deleted from the container: ${removed[*]:-nothing}"

# Host-side helper: poll readiness, time it, find/stop the server, one inference.
helper=$(mktemp)
cat >"$helper" <<'EOF'
import json, os, sys, time, urllib.request

def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])

def server_pid(root):
    """The deepest descendant of our `buildah run` (or hack/ctr-run.sh) whose command line
    is `... mlmodel serve ...` (the runners above it carry those words too)."""
    depth, found, grew = {root: 0}, None, True
    while grew:
        grew = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in depth:
                try:
                    parent = ppid_of(int(entry))
                    cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if parent in depth:
                    depth[int(entry)] = depth[parent] + 1; grew = True
                    if b"serve" in cmd and any(p.endswith(b"mlmodel") for p in cmd):
                        if found is None or depth[int(entry)] > depth[found]:
                            found = int(entry)
    return found

def ready(port, run_pid, t0, timeout):
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(base + "/v2/health/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline or not os.path.exists(f"/proc/{run_pid}"):
            sys.exit("not ready")
        time.sleep(0.01)
    t_ready = time.time()
    with open("/proc/uptime") as f:
        uptime_ready = float(f.read().split()[0])
    pid = server_pid(run_pid)
    if pid is None:
        sys.exit("server process not found")
    with open(f"/proc/{pid}/stat") as f:
        start = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    print(f"{pid} {os.stat(f'/proc/{pid}').st_uid} {t_ready - t0:.2f} {uptime_ready - start:.2f}")

def infer(port):
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(base + "/v2/models/classifier") as r:
        inp = json.load(r)["inputs"][0]
    shape = [max(int(d), 1) for d in inp["shape"]]
    count = 1
    for d in shape:
        count *= d
    body = {"inputs": [{"name": inp["name"], "datatype": inp["datatype"], "shape": shape, "data": [0] * count}]}
    req = urllib.request.Request(base + "/v2/models/classifier/infer", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        out = json.load(r)["outputs"][0]
    print(f"infer: {inp['name']} {inp['datatype']} {shape} -> {out['name']} {out['shape']}: ok")
    with urllib.request.urlopen(base + "/") as r:
        assert r.status == 200 and "text/html" in r.headers["content-type"], r.headers
    print("test page GET /: ok")

def port_free(port):
    import socket
    sys.exit(1 if socket.socket().connect_ex(("127.0.0.1", port)) == 0 else 0)

if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ready":
        ready(int(args[0]), int(args[1]), float(args[2]), float(args[3]))
    elif cmd == "infer":
        infer(int(args[0]))
    elif cmd == "port-free":
        port_free(int(args[0]))
EOF
python3 "$helper" port-free "$PORT" || fail "port $PORT already in use on 127.0.0.1"

RUNS=${SMOKE_READY_RUNS:-1}
log=$(mktemp)
exec_times=()
for i in $(seq "$RUNS"); do
  t0=$(date +%s.%N)
  "$ROOT/hack/ctr-run.sh" "$sctr" -v "$MODELS:/models:ro" -- "${entrypoint[@]}" \
    serve --model "/models/$MODEL" --name classifier --host 127.0.0.1 --port "$PORT" --grpc-port 0 >"$log" 2>&1 &
  run_pid=$!
  if ! result=$(python3 "$helper" ready "$PORT" "$run_pid" "$t0" "$SMOKE_TIMEOUT"); then
    sed 's/^/  server: /' "$log" >&2
    fail "serve never became ready"
  fi
  read -r server_pid uid from_run from_exec <<<"$result"
  [[ $uid == 65532 ]] || fail "server runs as uid $uid"
  echo "run $i: ready in $from_exec s from the server process's start ($from_run s from \`buildah run\`), pid $server_pid uid $uid"
  exec_times+=("$from_exec")
  if [[ $i == 1 ]]; then
    python3 "$helper" infer "$PORT"
    sed 's/^/  server: /' "$log"
  fi
  kill -TERM "$server_pid"
  for _ in $(seq $((SMOKE_TIMEOUT * 5))); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$run_pid" 2>/dev/null && fail "serve did not stop on SIGTERM"
  wait "$run_pid" || true
  run_pid="" server_pid=""
done
echo "serve stopped on SIGTERM: ok"
# Anything uid 65532 wrote into the container's own filesystem would break under
# readOnlyRootFilesystem: there must be nothing.
mnt=$(bh mount "$sctr")
written=$(find "$mnt" -xdev -user 65532 -print 2>/dev/null | sed "s#^$mnt##" | head -n 20)
bh umount "$sctr" >/dev/null
[[ -z $written ]] || fail "serve wrote into the image filesystem: $written"
echo "no writes to the container filesystem (readOnlyRootFilesystem-safe): ok"
if ((RUNS > 1)); then
  printf '%s\n' "${exec_times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "ready time over %d runs: min %.2f s, median %.2f s, max %.2f s\n", NR, a[1], a[int((NR+1)/2)], a[NR]}'
fi
rm -f "$helper" "$log"

echo "image smoke: OK"
