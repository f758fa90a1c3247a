#!/usr/bin/env bash
# Builds the one container image (Dockerfile at the root) daemonlessly with
# Debian's buildah: vfs storage, chroot isolation, no Docker engine and no
# container registry needed.
#
#   hack/build-image.sh            # build localhost/mlmodel-operator:0.1.0
#   hack/build-image.sh --relock   # regenerate requirements/image*.lock, then build
#   hack/build-image.sh --relock-only
#   hack/build-image.sh --refresh-base # re-debootstrap the cached base (Debian updates)
#   hack/build-image.sh --oci-archive  # also write an OCI archive for `ctr images import`,
#                                      # cached by input hash; prints its path (only that on stdout)
#   hack/build-image.sh --arch arm64   # linux/arm64 image (default --arch amd64) on an arm64
#                                      # base: localhost/mlmodel-operator:<version>-arm64
#
# --arch arm64 on an x86-64 machine runs debootstrap's second stage and every RUN of the
# Dockerfile under qemu (hack/qemu-binfmt.sh installs qemu-user-static and registers it with
# binfmt_misc): pip installs the same hashed lock, which resolves to the aarch64 wheels, and
# the build stage's own (arm64) binutils strips. Slow (12 min cold with vfs here); its base,
# tag and archive are all named for the architecture, so it never replaces the amd64 ones.
#
# The locks keep their pins when relocked; to move to newer releases delete
# requirements/image*.lock first.
#
# Environment:
#   IMAGE        tag to build (default localhost/mlmodel-operator:<version from pyproject>,
#                with -arm64 appended for --arch arm64)
#   BASE_IMAGE   base for both stages. Default: a python3 base made here with
#                debootstrap (Debian bookworm minbase + python3 3.11 + python3-venv),
#                cached as a rootfs tarball under ~/.cache/mlmodel-operator/ and
#                committed as localhost/mlmodel-base:bookworm-python3 (for arm64:
#                bookworm-minbase-python3-arm64.tar, localhost/mlmodel-base:bookworm-python3-arm64).
#                Set BASE_IMAGE=python:3.11-slim-bookworm (the Dockerfile's own
#                default) where a registry is reachable.
#   DEBIAN_MIRROR  for debootstrap (default http://deb.debian.org/debian)
#   BUILD_PULL   buildah --pull policy for the base (default false: pull only if missing)
#   BUILD_ARGS   extra `buildah bud` arguments, e.g. "--build-arg TRIM=0" (untrimmed venv)
#   MLMODEL_CACHE  --oci-archive writes $MLMODEL_CACHE/images/mlmodel-operator-<key>.oci.tar
#                (mlmodel-operator-arm64-<key>.oci.tar for arm64; default cache
#                ~/.cache/mlmodel-operator). <key> is the first 16 hex digits of a
#                sha256 over the build inputs (see input_key); an archive already there is
#                reused without building, and only the newest one of each architecture is kept. The build runs
#                on a snapshot of those inputs (so the key names exactly what was built,
#                however the tree changes meanwhile), one at a time (flock).
#   STORAGE_DRIVER  buildah storage driver (default vfs: works anywhere, but copies
#                every layer in full). overlay is ~3x faster cold and ~20x warm
#                where the kernel allows it; it gets its own storage root
#                (/var/lib/containers/storage-overlay) so the two never mix.
#                hack/image-smoke.sh must be run with the same value.
#
# pip inside the build reaches the package index through the host's CA bundle,
# bind-mounted read-only into every RUN step (a debootstrap minbase has no
# ca-certificates; on networks with a TLS-inspecting proxy the host bundle is the
# only one that works).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml | head -n 1)
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mlmodel-operator
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BUILD_PULL=${BUILD_PULL:-false}
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

# shellcheck source=hack/buildah.sh
source "$(dirname "${BASH_SOURCE[0]}")/buildah.sh"  # STORAGE_DRIVER and bh

step() { printf '\n=== %s\n' "$*" >&2; }
TMPS=()  # removed on exit, however the script ends
trap 'rm -rf "${TMPS[@]}"' EXIT

usage() {
  echo "usage: $0 [--relock|--relock-only] [--refresh-base] [--oci-archive] [--arch amd64|arm64]" >&2
  exit 2
}
relock=0 build=1 refresh=0 oci=0 ARCH=amd64
while (($#)); do
  case $1 in
    --relock) relock=1 ;;
    --relock-only) relock=1 build=0 ;;
    --refresh-base) refresh=1 ;;
    --oci-archive) oci=1 ;;
    --arch) (($# > 1)) || usage; ARCH=$2; shift ;;
    --arch=*) ARCH=${1#--arch=} ;;
    *) usage ;;
  esac
  shift
done
HOST_ARCH=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $HOST_ARCH in x86_64) HOST_ARCH=amd64 ;; aarch64) HOST_ARCH=arm64 ;; esac
# The amd64 names are the ones they always were (the cluster tests import that archive);
# another architecture's base, tag and archive carry its name.
case $ARCH in
  amd64) suffix= ;;
  arm64) suffix=-arm64 ;;
  *) echo "unsupported --arch $ARCH (amd64 or arm64)" >&2; exit 2 ;;
esac
IMAGE=${IMAGE:-localhost/mlmodel-operator:$VERSION$suffix}
DEBOOTSTRAP_BASE=localhost/mlmodel-base:bookworm-python3$suffix
BASE_TAR=$CACHE/bookworm-minbase-python3$suffix.tar
if ((oci)); then
  # Callers read the archive's path from the last stdout line, so everything
  # else (buildah's progress, the image summary) goes to stderr; fd 3 is the
  # real stdout.
  exec 3>&1 1>&2
fi

relock() {
  # Runtime dependencies only (pyproject's [project.dependencies], no test extras),
  # resolved for CPython 3.11 on Linux x86_64; every file PyPI has for each pin is
  # hashed. The build lock holds setuptools for the wheel build.
  step "relock requirements/image.lock and requirements/image-build.lock (pip-tools)"
  local venv=$CACHE/pip-tools
  [[ -x $venv/bin/pip-compile ]] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q pip-tools; }
  "$venv/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "relock with python 3.11"'
  mkdir -p requirements
  local common=(--quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url
                --no-emit-find-links)
  env -u PIP_FIND_LINKS CUSTOM_COMPILE_COMMAND="hack/build-image.sh --relock" \
    "$venv/bin/pip-compile" "${common[@]}" --output-file requirements/image.lock pyproject.toml
  echo 'setuptools>=68' | env -u PIP_FIND_LINKS CUSTOM_COMPILE_COMMAND="hack/build-image.sh --relock" \
    "$venv/bin/pip-compile" "${common[@]}" --output-file requirements/image-build.lock -
}

need_tools() {
  # Another architecture's binaries run under qemu (binfmt_misc).
  [[ $ARCH == "$HOST_ARCH" ]] || "$ROOT/hack/qemu-binfmt.sh" "$ARCH"
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  [[ ${BASE_IMAGE:-} ]] || command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]})) || return 0
  step "installing ${missing[*]} (apt)"
  if [[ $(id -u) != 0 ]]; then
    echo "missing ${missing[*]} and not root: apt-get install ${missing[*]}" >&2; exit 1
  fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

debootstrap_base() {
  # Debian bookworm minbase + python3 (3.11) + python3-venv, as a local image.
  ((refresh)) && rm -f "$BASE_TAR"
  if ((!refresh)) && bh inspect --type image "$DEBOOTSTRAP_BASE" >/dev/null 2>&1; then
    step "base $DEBOOTSTRAP_BASE (cached in containers storage)"
    return
  fi
  mkdir -p "$CACHE"
  if [[ ! -s $BASE_TAR ]]; then
    step "debootstrap bookworm minbase + python3 into $BASE_TAR (a few minutes)"
    local tmp
    tmp=$(mktemp -d "$CACHE/debootstrap.XXXXXX")
    TMPS+=("$tmp")
    if [[ $ARCH == "$HOST_ARCH" ]]; then
      debootstrap --variant=minbase --include=python3,python3-venv bookworm "$tmp/rootfs" "$DEBIAN_MIRROR" \
        >"$tmp/debootstrap.log" 2>&1 || { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }
    else
      # Foreign: the first stage downloads and unpacks on the host, the second configures
      # the packages inside the rootfs under qemu (binfmt's F flag: no qemu copied in).
      debootstrap --arch "$ARCH" --foreign --variant=minbase --include=python3,python3-venv bookworm \
        "$tmp/rootfs" "$DEBIAN_MIRROR" >"$tmp/debootstrap.log" 2>&1 \
        || { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }
      step "debootstrap --second-stage under qemu ($ARCH; several minutes)"
      chroot "$tmp/rootfs" /debootstrap/debootstrap --second-stage >>"$tmp/debootstrap.log" 2>&1 \
        || { tail -n 30 "$tmp/debootstrap.log" >&2; exit 1; }
      chroot "$tmp/rootfs" /usr/bin/python3 -c 'import platform; print("base python3", platform.python_version(), platform.machine())' >&2
    fi
    # Trim what a runtime never reads: downloaded .debs, apt lists, docs (the
    # copyright files stay), man pages, locales. The standard library's
    # bytecode (compiled by python3's postinst) stays: the image runs as uid
    # 65532, which cannot write __pycache__, and without it every start
    # recompiles the stdlib (measured: ~0.8 s more to import the server).
    (
      cd "$tmp/rootfs"
      rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* var/log/* \
        usr/share/man/* usr/share/info/* usr/share/locale/* usr/share/lintian
      find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
      find usr/share/doc -mindepth 1 -type d -empty -delete
      # /dev and friends are the runtime's to populate
      rm -rf dev/* proc/* sys/* run/* tmp/*
    )
    tar -C "$tmp/rootfs" --numeric-owner -cf "$BASE_TAR.part" .
    mv "$BASE_TAR.part" "$BASE_TAR"
    rm -rf "$tmp"
  fi
  step "commit $DEBOOTSTRAP_BASE from $BASE_TAR"
  local ctr
  ctr=$(bh from scratch)
  bh add "$ctr" "$BASE_TAR" / >/dev/null
  bh config \
    --os linux --arch "$ARCH" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd '["python3"]' \
    --label org.opencontainers.image.description="Debian bookworm minbase + python3 (debootstrap, $ARCH)" \
    "$ctr"
  bh commit --rm --quiet "$ctr" "$DEBOOTSTRAP_BASE" >/dev/null
}

input_files() {
  # What the build reads: the files the build context holds (see .dockerignore)
  # and this script. Sorted bytewise, so the key does not depend on the locale.
  {
    printf '%s\n' Dockerfile .dockerignore requirements/image.lock requirements/image-build.lock \
      pyproject.toml README.md hack/build-image.sh
    find server operator -type f -not -path '*/__pycache__/*' -not -name '*.pyc' \
      -not -path '*.egg-info/*'
  } | LC_ALL=C sort
}

snapshot_inputs() {
  # Copies the inputs to $1. Other work may edit the tree during a build of
  # minutes; building from a copy keeps the archive's key true to its content.
  input_files | tar -cf - --verbatim-files-from -T - | tar -C "$1" -xf -
}

input_key() {
  # sha256 over "sha256  path" lines of the inputs in directory $1 (so both
  # paths and contents count) and the settings that change the image.
  (cd "$1" && input_files | xargs -d '\n' sha256sum --)
  printf 'IMAGE=%s\nBASE_IMAGE=%s\nBUILD_ARGS=%s\nARCH=%s\n' "$IMAGE" "${BASE_IMAGE:-}" "${BUILD_ARGS:-}" "$ARCH"
}

write_archive() {
  # `ctr images import` reads the name from the index's ref.name annotation
  # (the full reference, so ctr keeps it as is). Written to .part and renamed,
  # so a reader never sees half an archive; older archives of the same architecture are
  # removed (the amd64 ones are mlmodel-operator-<16 hex>.oci.tar, others carry their arch).
  step "oci-archive $ARCHIVE"
  rm -f "$ARCHIVE.part"
  TMPS+=("$ARCHIVE.part")
  bh push --quiet "$IMAGE" "oci-archive:$ARCHIVE.part:$IMAGE"
  mv -f "$ARCHIVE.part" "$ARCHIVE"
  local same
  if [[ -z $suffix ]]; then same=(-regex '.*/mlmodel-operator-[0-9a-f]*\.oci\.tar'); else same=(-name "mlmodel-operator$suffix-*.oci.tar"); fi
  find "$IMAGES_DIR" -maxdepth 1 "${same[@]}" \
    -not -name "${ARCHIVE##*/}" -print -delete | sed 's/^/removed older /'
  echo "$ARCHIVE" >&3
}

((relock)) && relock
((build)) || exit 0
for f in requirements/image.lock requirements/image-build.lock; do
  [[ -s $f ]] || { echo "$f missing: run $0 --relock" >&2; exit 1; }
done

context=.
if ((oci)); then
  IMAGES_DIR=${MLMODEL_CACHE:-$HOME/.cache/mlmodel-operator}/images
  mkdir -p "$IMAGES_DIR"
  # One --oci-archive build at a time: they share buildah's storage and the
  # image tag, and a waiter usually finds the archive it wants already built.
  exec 9>"$IMAGES_DIR/.build-image$suffix.lock"
  flock -n 9 || { echo "waiting for another hack/build-image.sh --oci-archive" >&2; flock 9; }
  context=$(mktemp -d "${TMPDIR:-/tmp}/mlmodel-image-context.XXXXXX")
  TMPS+=("$context")
  snapshot_inputs "$context"
  key=$(input_key "$context" | sha256sum | cut -c1-16)
  ARCHIVE=$IMAGES_DIR/mlmodel-operator$suffix-$key.oci.tar
  if [[ -s $ARCHIVE ]]; then
    echo "oci-archive $ARCHIVE is up to date (inputs unchanged): not building" >&2
    echo "$ARCHIVE" >&3
    exit 0
  fi
fi

need_tools
base=${BASE_IMAGE:-}
if [[ -z $base ]]; then
  debootstrap_base
  base=$DEBOOTSTRAP_BASE
fi

mounts=()
[[ -r $CA_BUNDLE ]] && mounts+=(-v "$CA_BUNDLE:$CA_BUNDLE:ro")

step "build $IMAGE (base $base, linux/$ARCH)"
start=$(date +%s)
# --arch sets the platform of the FROM scratch stage (the image's config) and picks the
# base of that architecture from storage.
# shellcheck disable=SC2086  # BUILD_ARGS is a word list on purpose
bh bud --isolation chroot --layers --pull="$BUILD_PULL" --arch "$ARCH" \
  --build-arg BASE_IMAGE="$base" \
  "${mounts[@]}" ${BUILD_ARGS:-} \
  -f "$context/Dockerfile" -t "$IMAGE" "$context"
echo "built $IMAGE in $(($(date +%s) - start)) s" >&2

step "image"
bh images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "$IMAGE"
bh inspect --type image --format 'entrypoint={{.OCIv1.Config.Entrypoint}} cmd={{.OCIv1.Config.Cmd}} user={{.OCIv1.Config.User}} platform={{.OCIv1.OS}}/{{.OCIv1.Architecture}}' "$IMAGE"
got=$(bh inspect --type image --format '{{.OCIv1.Architecture}}' "$IMAGE")
[[ $got == "$ARCH" ]] || { echo "built $IMAGE for $got, not $ARCH" >&2; exit 1; }
echo
echo "$IMAGE"
((oci)) && write_archive
exit 0
