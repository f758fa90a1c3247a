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
# Stop order: clients first, etcd last; an apiserver whose etcd vanished first hangs ~10 s.
STOP_TIERS = (("kwok", "kube-scheduler", "kube-controller-manager"), ("kube-apiserver",), ("etcd",))
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.128.0.0/16"  # kwok hands out fake pod IPs from here; room for ~65k pods
# kwok manages only nodes carrying this annotation (value "fake"), never real ones.
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


class ClusterError(RuntimeError):
    """A step of the control plane failed; the message is one line the CLI prints as is."""


def log(msg: str) -> None:
    """Progress goes to stderr so stdout stays machine-readable (e.g. for `env`)."""
    print(f"[localcluster] {msg}", file=sys.stderr, flush=True)
