"""kwok's fake nodes: what they look like and when the scheduler will use them."""

from __future__ import annotations

import urllib.error
from collections.abc import Callable
from typing import Any

from .common import KWOK_ANNOTATION, ClusterError

KWOK_NODE_PREFIX = "kwok-node-"
# Large enough for ~1000 small pods on one node, so scheduling never becomes the bottleneck.
NODE_RESOURCES = {"cpu": "64", "memory": "256Gi", "pods": "1100"}


# Beside a real node, workloads must land on it unless they ask for kwok: kwok's pods never run.
KWOK_TAINT = {"key": KWOK_ANNOTATION, "value": "fake", "effect": "NoSchedule"}


def node_manifest(index: int, tainted: bool = False) -> dict[str, Any]:
    """A fake Node that kwok adopts (by annotation) and keeps Ready with leases."""
    name = f"{KWOK_NODE_PREFIX}{index}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "node-role.kubernetes.io/agent": ""},
        },
        "spec": {"taints": [KWOK_TAINT]} if tainted else {},
        "status": {"allocatable": dict(NODE_RESOURCES), "capacity": dict(NODE_RESOURCES)},
    }  # fmt: skip


def node_is_ready(node: dict[str, Any]) -> bool:
    """Ready condition True and the not-ready taint gone, i.e. the scheduler will use it."""
    conditions = node.get("status", {}).get("conditions") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    taints = node.get("spec", {}).get("taints") or []
    return ready and not any(t["key"].startswith("node.kubernetes.io/") for t in taints)


def count_ready(nodes: list[dict[str, Any]]) -> int:
    """How many of `nodes` (items of a NodeList) are ready; see node_is_ready."""
    return sum(node_is_ready(n) for n in nodes)


def create_nodes(api: Callable[..., Any], count: int, tainted: bool = False) -> None:
    """Create fake nodes 0..count-1 through `api` (LocalCluster.api); 409 = exists already."""
    for index in range(count):
        try:
            api("POST", "/api/v1/nodes", node_manifest(index, tainted))
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise ClusterError(f"creating node {index}: HTTP {exc.code}") from None


def ready_fake_nodes(api: Callable[..., Any]) -> int:
    """How many nodes labelled type=kwok are ready (other nodes, if any, do not count)."""
    return count_ready(api("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")["items"])
