"""Read the inference pods' last request time from their /metrics (for idle stop).

Why a GET of the pods and not an annotation the pods write: inference pods run without a
ServiceAccount token or any API permission (the restricted design), and a write per
request burst would load the API server and wake the operator on every one. The operator
reads instead (podmetrics.py, as a canary step's gates do), and only when an idle stop is
due (status/idlestop.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mlmodel_operator import podmetrics
from mlmodel_operator.status.idlestop import Seen

LAST_REQUEST = "mlmodel_last_request_timestamp_seconds"


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


def read(pods: list[dict[str, Any]], template: str, timeout: float) -> Seen:
    """Read every running pod (a few at a time) and keep the newest request; a pod that
    cannot be read counts as read and is named."""
    results = podmetrics.read(
        podmetrics.targets(running(pods), template),
        timeout,
        lambda text: Seen(last_request(text), pods=1),
        lambda why: Seen(pods=1, unreadable=(why,)),
        "activity-read",
    )
    total = Seen()
    for result in results:
        total = total.plus(result)
    return total
