"""Names shared by every module of the kit: the error type, progress logging, constants."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HACK = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MLMODEL_CACHE", Path.home() / ".cache" / "mlmodel-operator"))
DEFAULT_DIR = CACHE / "cluster"
# Start order.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
# The real node's processes, started after the control plane (see nodeconfig.py, realnode.py),
# and metrics-server, which scrapes its kubelet (metrics.py).
NODE_COMPONENTS = ("containerd", "kubelet", "kube-proxy", "metrics-server")
# Stop order: clients first, etcd last; an apiserver whose etcd vanished first hangs ~10 s.
# containerd is not here: the real node's teardown (hostsetup.py) stops it after removing
# the pods through it.
STOP_TIERS = (
    ("kubelet", "kube-proxy", "metrics-server"),
    ("kwok", "kube-scheduler", "kube-controller-manager"),
    ("kube-apiserver",),
    ("etcd",),
)
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.128.0.0/16"  # kwok hands out fake pod IPs from here; room for ~65k pods
# The real node: one per machine (its iptables rules, bridge and cgroups are host-wide). Its
# InternalIP sits on one end of a veth pair (dummy links need a kernel module this sandbox
# lacks); the apiserver binds it too, so pods reach the API through the `kubernetes` Service.
NODE_NAME = "mlmodel-node"
NODE_IP = "172.30.255.1"
NODE_LINK = "mlm-node0"  # the veth end holding NODE_IP; its peer is NODE_LINK_PEER
NODE_LINK_PEER = "mlm-node1"
REAL_POD_CIDR = "10.244.0.0/24"
REAL_POD_GATEWAY = "10.244.0.1"  # the bridge's address: pods reach host services here
# kwok manages only nodes carrying this annotation (value "fake"), never real ones.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


class ClusterError(RuntimeError):
    """A step of the control plane failed; the message is one line the CLI prints as is."""


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable (e.g. for `env`)."""
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)
