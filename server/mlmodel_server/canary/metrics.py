"""Per-version Prometheus families of a split, exported beside the server's own.

Why per version and per role: the operator's promotion gates read the candidate's error
rate, p99 latency and agreement from every pod (docs/operator.md#canary-and-shadow-traffic),
and a user's dashboard wants the share each version actually answered. `role` tells the
requests a version answered (`answer`) from the mirrored runs whose answers were only
compared (`shadow`).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric

# Finer than the request histogram's: the operator estimates a p99 from these buckets.
DURATION_BUCKETS = (
    0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
    0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
ANSWER, SHADOW = "answer", "shadow"


class SplitMetrics:
    """The families of one split, unregistered: `split.SplitCollector` yields them at scrape time."""

    def __init__(self) -> None:
        self.requests = Counter(
            "mlmodel_version_requests",
            "Inferences by model version, role (answer: the client got it; shadow: only compared) "
            "and result (ok, error).",
            ["model", "version", "role", "result"],
            registry=None,
        )
        self.duration = Histogram(
            "mlmodel_version_request_duration_seconds",
            "Inference time by model version and role, waiting for an interpreter included.",
            ["model", "version", "role"],
            buckets=DURATION_BUCKETS,
            registry=None,
        )
        self.comparisons = Counter(
            "mlmodel_version_comparisons",
            "Mirrored requests whose two answers were compared, by result (agree, disagree).",
            ["model", "stable", "candidate", "result"],
            registry=None,
        )
        self.skipped = Counter(
            "mlmodel_version_shadows_skipped",
            "Mirrored runs skipped because too many were already in flight.",
            ["model", "version"],
            registry=None,
        )
        self.share = Gauge(
            "mlmodel_version_traffic_percent",
            "The share of requests each version is set to answer.",
            ["model", "version"],
            registry=None,
        )

    def families(self) -> Iterator[Metric]:
        for family in (self.requests, self.duration, self.comparisons, self.skipped, self.share):
            yield from family.collect()
