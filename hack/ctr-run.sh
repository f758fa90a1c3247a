#!/usr/bin/env bash
# Runs a command in a buildah working container as the image runs it: its user, environment
# and working directory, host network. hack/image-smoke.sh and hack/image-compare.py run the
# image through this.
#
#   hack/ctr-run.sh CONTAINER [-v SRC:DST[:ro]]... -- COMMAND [ARGS...]
#
# An image of this machine's architecture: `buildah run --isolation chroot` (exec'd, so the
# caller's pid is buildah's).
#
# Another architecture's (arm64 here, under qemu; hack/qemu-binfmt.sh): buildah's chroot
# isolation would give the program the host's /proc/cpuinfo, which Debian 12's qemu 7.2
# passes through unchanged (qemu emulates it for Arm only from 8.2). LiteRT's cpuinfo library
# (XNNPACK) parses that x86 text as Arm's and dereferences NULL: creating an Interpreter dies
# with SIGSEGV. buildah ignores bind mounts under /proc, so this runs the program itself: the
# container's root (buildah mount), in a private mount namespace (unshare -m; all of it goes
# when the program ends) with /proc, /sys, /dev, the volumes, and over /proc/cpuinfo what an
# arm64 Linux shows on a Neoverse-N1 (AWS Graviton2, Ampere Altra) with this machine's CPU
# count; then chroot --userspec with the image's environment. Features come from the
# auxiliary vector, which qemu fills for the CPU it emulates, not from this text. A real
# arm64 node needs none of this. Needs root; STORAGE_DRIVER as for hack/build-image.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
if [[ $STORAGE_DRIVER == vfs ]]; then
  buildah=(buildah --storage-driver vfs)
else
  buildah=(buildah --storage-driver "$STORAGE_DRIVER" --root "/var/lib/containers/storage-$STORAGE_DRIVER"
           --runroot "/run/containers/storage-$STORAGE_DRIVER")
fi
bh() { "${buildah[@]}" "$@"; }
usage() { echo "usage: $0 CONTAINER [-v SRC:DST[:ro]]... -- COMMAND [ARGS...]" >&2; exit 2; }
(($# >= 3)) || usage
ctr=$1
shift
vols=()
while [[ $1 == -v ]]; do
  (($# >= 2)) || usage
  vols+=("$2")
  shift 2
done
[[ $1 == -- ]] || usage
shift

host=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $host in x86_64) host=amd64 ;; aarch64) host=arm64 ;; esac
arch=$(bh inspect --type container --format '{{.OCIv1.Architecture}}' "$ctr")
if [[ $arch == "$host" ]]; then
  args=()
  for v in "${vols[@]}"; do args+=(-v "$v"); done
  exec "${buildah[@]}" run --isolation chroot "${args[@]}" "$ctr" -- "$@"
fi

[[ $arch == arm64 ]] || { echo "ctr-run: no emulated run for $arch" >&2; exit 1; }
"$ROOT/hack/qemu-binfmt.sh" "$arch"
user=$(bh inspect --type container --format '{{.OCIv1.Config.User}}' "$ctr")
workdir=$(bh inspect --type container --format '{{.OCIv1.Config.WorkingDir}}' "$ctr")
[[ -z $workdir || $workdir == / ]] || { echo "ctr-run: WORKDIR $workdir: only / is supported" >&2; exit 1; }
mapfile -t envs < <(bh inspect --type container --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$ctr" | sed '/^$/d')
root=$(bh mount "$ctr")
cpuinfo=$(mktemp)
trap 'rm -f "$cpuinfo"' EXIT
for ((i = 0; i < $(nproc --all); i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$i"
done >"$cpuinfo"
chmod 0444 "$cpuinfo"  # read by the image's user
for v in "${vols[@]}"; do
  IFS=: read -r _ dst _ <<<"$v"
  mkdir -p "$root/$dst"
done
# Not exec'd: the temporary cpuinfo is removed when the program ends.
status=0
# shellcheck disable=SC2016  # expanded by the inner bash
unshare --mount --propagation private -- bash -c '
  set -euo pipefail
  root=$1 cpuinfo=$2 user=$3 nvols=$4 nenvs=$5
  shift 5
  mount -t proc proc "$root/proc"
  mount --bind "$cpuinfo" "$root/proc/cpuinfo"
  mount --rbind /sys "$root/sys"
  mount --rbind /dev "$root/dev"
  for ((i = 0; i < nvols; i++)); do
    IFS=: read -r src dst opt <<<"$1"
    shift
    mount --bind "$src" "$root/$dst"
    [[ $opt != ro ]] || mount -o remount,bind,ro "$root/$dst"
  done
  envs=("${@:1:nenvs}")
  shift "$nenvs"
  exec env -i "${envs[@]}" chroot --userspec="$user" "$root" "$@"
' ctr-run "$root" "$cpuinfo" "${user:-0:0}" "${#vols[@]}" "${#envs[@]}" "${vols[@]}" "${envs[@]}" "$@" || status=$?
exit "$status"
