"""What the pods of a canary step report: their per-version Prometheus metrics, summed.

Why from the pods and not a Prometheus server: the operator must not depend on one being
installed (an edge cluster rarely has it), and a step's gates must count only the pods of
that step's template, whose counters start at zero with the pod. The pods are read by
podmetrics.py (as idle stop reads them); the families are those of
`mlmodel_server.canary.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from mlmodel_operator.podmetrics import Target
from mlmodel_operator.podmetrics import read as read_pods

QUANTILE = 0.99


@dataclass(frozen=True)
class Observed:
    """Counts summed over the pods read; the candidate's durations as cumulative buckets."""

    pods: int = 0
    answers: int = 0  # requests answered by either version
    candidate_answers: int = 0
    candidate_runs: int = 0  # the candidate's answers and mirrored runs
    candidate_errors: int = 0
    buckets: tuple[tuple[float, float], ...] = ()  # (upper bound, cumulative count)
    agreements: int = 0
    comparisons: int = 0
    unreachable: tuple[str, ...] = ()  # "pod: why" for pods whose metrics could not be read

    @property
    def share(self) -> float:
        return self.candidate_answers / self.answers if self.answers else 0.0

    @property
    def error_rate(self) -> float:
        return self.candidate_errors / self.candidate_runs if self.candidate_runs else 0.0

    @property
    def agreement(self) -> float:
        return self.agreements / self.comparisons if self.comparisons else 1.0

    @property
    def p99_ms(self) -> float:
        return 1000 * quantile(QUANTILE, self.buckets)

    def plus(self, other: Observed) -> Observed:
        sums = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        sums["buckets"] = _add_buckets(self.buckets, other.buckets)
        return replace(self, **sums)

    def to_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pods": self.pods,
            "requests": self.answers,
            "candidateRequests": self.candidate_answers,
            "candidateShare": round(self.share, 4),
            "candidateRuns": self.candidate_runs,
            "errorRate": round(self.error_rate, 4),
            "comparisons": self.comparisons,
            "agreement": round(self.agreement, 4),
        }
        if self.candidate_runs and math.isfinite(self.p99_ms):
            out["p99Ms"] = round(self.p99_ms, 3)
        if self.unreachable:
            out["unreachable"] = list(self.unreachable)
        return out


def _add_buckets(
    a: tuple[tuple[float, float], ...], b: tuple[tuple[float, float], ...]
) -> tuple[tuple[float, float], ...]:
    merged: dict[float, float] = {}
    for bound, count in (*a, *b):
        merged[bound] = merged.get(bound, 0.0) + count
    return tuple(sorted(merged.items()))


def quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float:
    """Prometheus' histogram_quantile: linear within the bucket holding the q-th value;
    infinity when it lies beyond the last finite bound (the gate then fails)."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return 0.0
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return math.inf
            return lower + (bound - lower) * (rank - below) / (count - below) if count > below else bound
        lower, below = bound, count
    return math.inf


def read_pod(text: str, candidate: str) -> Observed:
    """One pod's exposition text, for the candidate version `candidate`."""
    counts: dict[str, float] = {}
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            _take(sample.name, sample.labels, sample.value, candidate, counts, buckets)
    return Observed(
        pods=1,
        answers=int(counts.get("answers", 0)),
        candidate_answers=int(counts.get("candidate_answers", 0)),
        candidate_runs=int(counts.get("candidate_runs", 0)),
        candidate_errors=int(counts.get("candidate_errors", 0)),
        buckets=tuple(sorted(buckets.items())),
        agreements=int(counts.get("agreements", 0)),
        comparisons=int(counts.get("comparisons", 0)),
    )


def _take(
    name: str,
    labels: dict[str, str],
    value: float,
    candidate: str,
    counts: dict[str, float],
    buckets: dict[float, float],
) -> None:
    """Add one sample to the counts it belongs to."""

    def add(key: str) -> None:
        counts[key] = counts.get(key, 0.0) + value

    if name == "mlmodel_version_requests_total":
        mine = labels.get("version") == candidate
        if labels.get("role") == "answer":
            add("answers")
            if mine:
                add("candidate_answers")
        if mine:
            add("candidate_runs")
            if labels.get("result") == "error":
                add("candidate_errors")
    elif name == "mlmodel_version_request_duration_seconds_bucket" and labels.get("version") == candidate:
        bound = float(labels["le"])
        buckets[bound] = buckets.get(bound, 0.0) + value
    elif name == "mlmodel_version_comparisons_total" and labels.get("candidate") == candidate:
        add("comparisons")
        if labels.get("result") == "agree":
            add("agreements")


def scrape(found: list[Target], candidate: str, timeout: float) -> Observed:
    """Read every target (a few at a time) and sum what they report for `candidate`; a pod
    that cannot be read, or whose text is not Prometheus', is named and not counted."""
    results = read_pods(
        found,
        timeout,
        lambda text: read_pod(text, candidate),
        lambda why: Observed(unreachable=(why,)),
        "canary-read",
    )
    total = Observed()
    for result in results:
        total = total.plus(result)
    return total
