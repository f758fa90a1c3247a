"""Read the inference pods' last request time from their /metrics (for idle stop).

Why a GET of the pods and not an annotation the pods write: inference pods run without a
ServiceAccount token or any API permission (the restricted design), and a write per
request burst would load the API server and wake the operator on every one. The operator
reads instead, and only when an idle stop is due (status/idlestop.py), a few pods at once.
"""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mlmodel_operator.status.idlestop import Seen

LAST_REQUEST = "mlmodel_last_request_timestamp_seconds"
MAX_READS = 8  # pods read at once
MAX_BYTES = 4 << 20  # an exposition text larger than this is not our server's


def last_request(text: str) -> datetime | None:
    """The gauge from one pod's exposition text; None when it served no inference yet."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == LAST_REQUEST and sample.value > 0:
                return datetime.fromtimestamp(sample.value, UTC)
    return None


def running(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods whose server may have answered something: Running, with an address."""
    return [
        p
        for p in pods
        if (p.get("status") or {}).get("podIP") and (p.get("status") or {}).get("phase") == "Running"
    ]


def url_of(pod: dict[str, Any], template: str) -> str:
    meta, ip = pod.get("metadata") or {}, pod["status"]["podIP"]
    host = f"[{ip}]" if ":" in ip else ip
    return template.format(ip=host, namespace=meta.get("namespace", ""), name=meta.get("name", ""))


def read(pods: list[dict[str, Any]], template: str, timeout: float) -> Seen:
    """Read every running pod (a few at a time) and keep the newest request."""
    found = running(pods)
    if not found:
        return Seen()
    with ThreadPoolExecutor(min(MAX_READS, len(found)), thread_name_prefix="activity-read") as pool:
        results = list(pool.map(lambda p: _read(p, template, timeout), found))
    total = Seen()
    for result in results:
        total = total.plus(result)
    return total


def _read(pod: dict[str, Any], template: str, timeout: float) -> Seen:
    name = (pod.get("metadata") or {}).get("name", "")
    try:
        with urllib.request.urlopen(url_of(pod, template), timeout=timeout) as resp:
            text = resp.read(MAX_BYTES).decode("utf-8", "replace")
        return Seen(last_request(text), pods=1)
    except (OSError, ValueError) as exc:
        return Seen(pods=1, unreadable=(f"{name}: {exc}",))
