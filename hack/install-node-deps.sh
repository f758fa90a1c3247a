#!/usr/bin/env bash
# Debian packages the real node needs (hack/localcluster.py up): containerd and runc run the
# pods, the CNI plugins wire them to a bridge, iptables carries kube-proxy's Services, and
# buildah + debootstrap build our image. Installs only what is missing; needs root.
set -euo pipefail
need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
command -v iptables >/dev/null || need+=(iptables)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
((${#need[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
  echo "the real node needs ${need[*]} and we are not root: apt-get install ${need[*]}" >&2
  exit 1
fi
echo "[install-node-deps] apt-get install ${need[*]}" >&2
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
