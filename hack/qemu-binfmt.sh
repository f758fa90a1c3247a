#!/usr/bin/env bash
# Lets this machine run another architecture's Linux binaries under emulation, for
# `hack/build-image.sh --arch arm64` (debootstrap's second stage and every RUN of the
# Dockerfile run under qemu) and hack/image-smoke-arm64.sh:
#
#   hack/qemu-binfmt.sh arm64      # or amd64 on an arm64 machine; a no-op for the host's own
#
# 1. installs Debian's qemu-user-static with apt if it is missing (CI machines start clean);
# 2. mounts binfmt_misc on /proc/sys/fs/binfmt_misc if it is not mounted;
# 3. registers Debian's own entry (/usr/lib/binfmt.d/qemu-<cpu>.conf) unless an enabled one
#    with the F flag is there. F makes the kernel open the interpreter at registration, so
#    it also runs inside chroots (buildah's chroot isolation, debootstrap --second-stage)
#    that do not contain it. An entry without F (e.g. registered by binfmt-support) is
#    replaced, and said so;
# 4. checks the entry: enabled, flag F.
# Idempotent (silent when nothing was to do); needs root. binfmt_misc is the kernel's, so a registration outlives the run.
set -euo pipefail
arch=${1:?usage: $0 ARCH (arm64 | amd64)}
host=$(dpkg --print-architecture 2>/dev/null || uname -m)
case $host in x86_64) host=amd64 ;; aarch64) host=arm64 ;; esac
[[ $arch == "$host" ]] && exit 0
case $arch in
  arm64) cpu=aarch64 ;;
  amd64) cpu=x86_64 ;;
  *) echo "qemu-binfmt: unsupported architecture $arch (arm64 or amd64)" >&2; exit 2 ;;
esac
changed=0
say() { echo "[qemu-binfmt] $*" >&2; changed=1; }
[[ $(id -u) == 0 ]] || { echo "qemu-binfmt: running $arch binaries needs root (apt, binfmt_misc)" >&2; exit 1; }

conf=/usr/lib/binfmt.d/qemu-$cpu.conf
if [[ ! -r $conf ]]; then
  say "apt-get install qemu-user-static"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-user-static >/dev/null
fi
[[ -r $conf ]] || { echo "qemu-binfmt: $conf missing after installing qemu-user-static" >&2; exit 1; }

misc=/proc/sys/fs/binfmt_misc
if [[ ! -e $misc/register ]]; then
  say "mount -t binfmt_misc binfmt_misc $misc"
  mount -t binfmt_misc binfmt_misc "$misc"
fi
entry=$misc/qemu-$cpu
if [[ -e $entry ]] && ! grep -q '^flags: .*F' "$entry"; then
  say "replacing $entry (no F flag: $(grep '^flags:' "$entry")) with $conf"
  echo -1 >"$entry"
fi
if [[ ! -e $entry ]]; then
  say "registering $conf"
  cat "$conf" >"$misc/register"
fi
[[ $(head -n 1 "$entry") == enabled ]] || echo 1 >"$entry"
if [[ $(head -n 1 "$entry") != enabled ]] || ! grep -q '^flags: .*F' "$entry"; then
  echo "qemu-binfmt: $entry is not usable:" >&2; cat "$entry" >&2; exit 1
fi
((!changed)) || say "$arch binaries run under $(sed -n 's/^interpreter //p' "$entry") ($(grep '^flags:' "$entry"))"
