"""Kubernetes-style conditions and the aggregate `Ready` (KServe's approach).

Each sub-condition says one thing; `Ready` is derived by a pure function so the
rule "what makes a service ready" lives in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


@dataclass(frozen=True)
class Cond:
    """A condition before it is stamped with a generation and a transition time."""

    type: str
    status: str
    reason: str
    message: str = ""

    @property
    def is_true(self) -> bool:
        return self.status == TRUE


def stamp(cond: Cond, generation: int, now: str, previous: list[dict[str, Any]]) -> dict[str, Any]:
    """Keep `lastTransitionTime` unless the status flipped, so it means what it says."""
    old = next((c for c in previous if c.get("type") == cond.type), None)
    changed = old is None or old.get("status") != cond.status
    return {
        "type": cond.type,
        "status": cond.status,
        "reason": cond.reason,
        "message": cond.message,
        "lastTransitionTime": now if changed or old is None else old.get("lastTransitionTime", now),
        "observedGeneration": generation,
    }


def aggregate_ready(
    conds: list[Cond], positive: tuple[str, ...], negative: tuple[str, ...] = ("Stopped",)
) -> Cond:
    """Ready is True only if every positive condition is True and no negative one is.

    The first condition that fails gives Ready its reason and message, so the
    order of `positive` is the order a user should look at problems in.
    """
    by_type = {c.type: c for c in conds}
    for kind in negative:
        cond = by_type.get(kind)
        if cond is not None and cond.is_true:
            return Cond("Ready", FALSE, cond.reason, cond.message)
    for kind in positive:
        cond = by_type.get(kind)
        if cond is None:
            return Cond("Ready", UNKNOWN, "Unknown", f"{kind} has not been computed yet")
        if not cond.is_true:
            return Cond("Ready", FALSE, cond.reason, cond.message)
    return Cond("Ready", TRUE, "Ready", "all conditions are satisfied")


def without_times(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Conditions minus timestamps, for 'did anything change?' comparisons."""
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]
