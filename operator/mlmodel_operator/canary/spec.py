"""`spec.canary` of an MLModelService as a frozen read-model (the CRD checked its shape).

Defaults live here and in the schema alike: a missing `name` is the only package entry,
a missing `percent` under `promotion` is the first step.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DEFAULT_MIN_REQUESTS = 100
DEFAULT_TOLERANCE = 1e-3


def parse_interval(text: str) -> timedelta:
    """`30s`, `5m`, `1h30m`: the CRD's pattern, read again for direct callers."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"invalid interval {text!r} (use e.g. 30s, 5m, 1h)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass(frozen=True)
class Gates:
    """What the candidate must show at every step; None: not checked."""

    max_error_rate: float | None = None
    max_p99_ms: float | None = None
    min_agreement: float | None = None

    @classmethod
    def from_spec(cls, gates: dict[str, Any]) -> Gates:
        return cls(
            _number(gates.get("maxErrorRate")),
            _number(gates.get("maxP99Ms")),
            _number(gates.get("minAgreement")),
        )


@dataclass(frozen=True)
class Promotion:
    steps: tuple[int, ...]
    interval: timedelta
    min_requests: int = DEFAULT_MIN_REQUESTS
    gates: Gates = Gates()

    @classmethod
    def from_spec(cls, promotion: dict[str, Any]) -> Promotion:
        return cls(
            steps=tuple(int(s) for s in promotion["steps"]),
            interval=parse_interval(str(promotion["interval"])),
            min_requests=int(promotion.get("minRequests", DEFAULT_MIN_REQUESTS)),
            gates=Gates.from_spec(promotion.get("gates") or {}),
        )


@dataclass(frozen=True)
class CanarySpec:
    """A candidate version of one `spec.packages[]` entry, and how it takes over."""

    entry: str  # the spec.packages[] name whose version the candidate replaces
    version: str
    percent: int  # the candidate's share without promotion (with it: the first step)
    mirror: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    promotion: Promotion | None = None
    written: str = ""  # spec.canary as written (canonical JSON): part of the experiment's key

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> CanarySpec | None:
        canary = spec.get("canary")
        if not canary:
            return None
        packages = spec.get("packages") or []
        promotion = Promotion.from_spec(canary["promotion"]) if canary.get("promotion") else None
        first = promotion.steps[0] if promotion else 0
        return cls(
            entry=str(canary.get("name") or (packages[0]["name"] if packages else "")),
            version=str(canary["version"]),
            percent=int(canary.get("percent", first)),
            mirror=bool(canary.get("mirror", False)),
            tolerance=float(canary.get("tolerance", DEFAULT_TOLERANCE)),
            promotion=promotion,
            written=json.dumps(canary, sort_keys=True, separators=(",", ":")),
        )
