#!/usr/bin/env bash
# Smoke-tests the arm64 image (hack/build-image.sh --arch arm64) on an x86-64 machine, under
# qemu user emulation, and checks that it computes what the amd64 image computes:
#
#   hack/image-smoke-arm64.sh [ARM64_IMAGE [AMD64_IMAGE]]
#       # defaults: localhost/mlmodel-operator:<version>-arm64, localhost/mlmodel-operator:<version>
#
# 1. hack/qemu-binfmt.sh arm64 (installs qemu-user-static if missing, registers it);
# 2. the images' platforms are linux/arm64 and linux/amd64, and every ELF file in the arm64
#    image (the base and the venv's extension modules and bundled libraries) is for aarch64;
# 3. hack/image-smoke.sh on the arm64 image, everything under emulation (SMOKE_TIMEOUT=600);
# 4. hack/image-compare.py: each tests/fixtures/models/*.tflite is served by both images'
#    `mlmodel serve`, which get the same inputs (SMOKE_SAMPLES per model, default 4); the
#    largest absolute difference between their outputs must be at most SMOKE_TOLERANCE
#    (default 1e-5). Prints it per model and overall.
# Prints "arm64 image smoke: OK" last. Slow (minutes: see docs/image.md), so it is not part of
# hack/test.sh / .ci/run. Needs root and the project's venv (numpy), MLMODEL_VENV or .venv.
# STORAGE_DRIVER as for hack/build-image.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)
ARM_IMAGE=${1:-localhost/mlmodel-operator:$VERSION-arm64}
AMD_IMAGE=${2:-localhost/mlmodel-operator:$VERSION}
VENV=${MLMODEL_VENV:-$ROOT/.venv}
# shellcheck source=hack/buildah.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildah.sh"  # STORAGE_DRIVER and bh
export STORAGE_DRIVER

step() { printf '\n=== %s\n' "$*" >&2; }
fail() { echo "arm64 image smoke: FAIL: $*" >&2; exit 1; }
ctr=""
cleanup() { [[ -z $ctr ]] || bh rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
start=$(date +%s)

step "qemu for arm64"
"$ROOT/hack/qemu-binfmt.sh" arm64

step "platforms ($ARM_IMAGE, $AMD_IMAGE)"
for pair in "$ARM_IMAGE=arm64" "$AMD_IMAGE=amd64"; do
  image=${pair%=*} want=${pair##*=}
  bh inspect --type image "$image" >/dev/null 2>&1 \
    || fail "no image $image: run hack/build-image.sh$([[ $want == arm64 ]] && echo ' --arch arm64')"
  got=$(bh inspect --type image --format '{{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$image")
  echo "$image: $got"
  [[ $got == "linux/$want" ]] || fail "$image is $got, not linux/$want"
done
ctr=$(bh from --pull-never --arch arm64 --name "mlmodel-smoke-arm64-$$" "$ARM_IMAGE")
mnt=$(bh mount "$ctr")
python3 - "$mnt" <<'EOF' || fail "the arm64 image holds ELF files for another machine"
import collections, os, sys
root = sys.argv[1]
machines = {183: "aarch64", 62: "x86-64", 3: "i386", 40: "arm"}
seen = collections.Counter()
foreign = []
for top, dirs, files in os.walk(root):
    for name in files:
        path = os.path.join(top, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            head = f.read(20)
        if head[:4] != b"\x7fELF" or len(head) < 20:
            continue
        machine = machines.get(int.from_bytes(head[18:20], "little" if head[5] == 1 else "big"), "other")
        seen[machine] += 1
        if machine != "aarch64":
            foreign.append(path[len(root):])
print("ELF files by machine:", dict(seen))
if foreign:
    sys.exit("not aarch64: " + ", ".join(foreign[:20]))
EOF
bh umount "$ctr" >/dev/null
bh rm "$ctr" >/dev/null
ctr=""

step "hack/image-smoke.sh $ARM_IMAGE (under qemu)"
t=$(date +%s)
SMOKE_TIMEOUT=${SMOKE_TIMEOUT:-600} "$ROOT/hack/image-smoke.sh" "$ARM_IMAGE"
echo "image-smoke.sh under qemu: $(($(date +%s) - t)) s"

step "fixture models: $ARM_IMAGE against $AMD_IMAGE"
[[ -x $VENV/bin/python ]] || fail "no venv at $VENV (hack/test.sh makes it; or set MLMODEL_VENV)"
t=$(date +%s)
"$VENV/bin/python" "$ROOT/hack/image-compare.py" "$AMD_IMAGE" "$ARM_IMAGE" \
  --tolerance "${SMOKE_TOLERANCE:-1e-5}" --samples "${SMOKE_SAMPLES:-4}" \
  --ready-timeout "${SMOKE_TIMEOUT:-600}" || fail "outputs differ (above)"
echo "comparison: $(($(date +%s) - t)) s"

echo "arm64 image smoke: OK in $(($(date +%s) - start)) s"
