"""GET the inference pods' Prometheus text (/metrics): the one reader of idle stop
(activity.py: the last request's time) and of a canary step's gates (canary/observe.py:
the per-version counters), which differ only in what they take from the text.

Why from the pods and not a Prometheus server or an annotation: the operator must not
depend on Prometheus being installed (an edge cluster rarely has it), and inference pods
have no API permission to write anything. The URL comes from the configured template
(MLMODEL_OPERATOR_POD_METRICS_URL: `{ip}`, `{namespace}`, `{name}`); a few pods are read at
once, each within the timeout, and a pod that cannot be read or whose text is not
Prometheus' is named ("pod: why"), never raised.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
MAX_READS = 8  # pods read at once
MAX_BYTES = 4 << 20  # an exposition text larger than this is not our server's


@dataclass(frozen=True)
class Target:
    """A pod to read: its name and the URL of its metrics."""

    pod: str
    url: str


def targets(pods: list[dict[str, Any]], url_template: str) -> list[Target]:
    """The URLs of `pods` (those with an address), from the configured template; an IPv6
    address is bracketed."""
    found = []
    for pod in pods:
        meta, ip = pod.get("metadata") or {}, (pod.get("status") or {}).get("podIP")
        if ip:
            host = f"[{ip}]" if ":" in ip else ip
            url = url_template.format(ip=host, namespace=meta.get("namespace", ""), name=meta.get("name", ""))
            found.append(Target(str(meta.get("name", "")), url))
    return found


def read(
    found: list[Target],
    timeout: float,
    parse: Callable[[str], T],
    failed: Callable[[str], T],
    thread_name: str = "pod-metrics",
) -> list[T]:
    """`parse` of every target's text, in their order, read a few at a time; `failed("pod:
    why")` for a target whose GET fails or whose text `parse` refuses (ValueError)."""
    if not found:
        return []
    with ThreadPoolExecutor(min(MAX_READS, len(found)), thread_name_prefix=thread_name) as pool:
        return list(pool.map(lambda t: _read(t, timeout, parse, failed), found))


def _read(target: Target, timeout: float, parse: Callable[[str], T], failed: Callable[[str], T]) -> T:
    try:
        with urllib.request.urlopen(target.url, timeout=timeout) as resp:
            text = resp.read(MAX_BYTES).decode("utf-8", "replace")
        return parse(text)
    except (OSError, ValueError) as exc:
        return failed(f"{target.pod}: {exc}")
