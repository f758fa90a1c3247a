"""What status and Events say about an experiment (pure): `Promoted` and `RolledBack`.

Neither is part of `Ready`: a canary being judged, or rolled back, leaves the service
serving (the stable version answers), so it must not turn the service unready.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.canary.state import (
    MANUAL,
    PENDING,
    PROGRESSING,
    PROMOTED,
    REFUSED,
    ROLLED_BACK,
    CanaryState,
)
from mlmodel_operator.status.conditions import FALSE, TRUE, Cond, stamp

NORMAL, WARNING = "Normal", "Warning"
_PROMOTED_FALSE = {
    PROGRESSING: "StepInProgress",
    MANUAL: "ManualPromotion",
    ROLLED_BACK: "RolledBack",
    PENDING: "CandidateNotReady",
    REFUSED: "CandidateRefused",
}


def conditions(state: CanaryState) -> list[Cond]:
    if state.state == PROMOTED:
        promoted = Cond("Promoted", TRUE, state.reason, state.message)
    else:
        reason = state.reason if state.state in (PENDING, REFUSED) else _PROMOTED_FALSE[state.state]
        promoted = Cond("Promoted", FALSE, reason, state.message)
    if state.state == ROLLED_BACK:
        return [promoted, Cond("RolledBack", TRUE, state.reason, state.message)]
    return [promoted, Cond("RolledBack", FALSE, "NotRolledBack", "")]


def with_canary(
    status: dict[str, Any],
    state: CanaryState | None,
    generation: int,
    now: str,
    previous: list[dict[str, Any]],
) -> dict[str, Any]:
    """`status` plus `canary` and its two conditions; `canary: None` removes a finished one."""
    if state is None:
        return {**status, "canary": None}
    stamped = [stamp(c, generation, now, previous) for c in conditions(state)]
    return {**status, "canary": state.to_status(), "conditions": [*status["conditions"], *stamped]}


def events(old: dict[str, Any] | None, new: CanaryState | None) -> list[tuple[str, str, str]]:
    """An Event per new decision, and one when an experiment starts or is refused."""
    if new is None:
        return []
    before = old if old and old.get("key") == new.key else None
    if before is None and new.state in (PROGRESSING, MANUAL):
        return [(NORMAL, "CanaryStarted", new.message)]
    if before is None and new.state == REFUSED:
        return [(WARNING, "CanaryRefused", new.message)]
    made = new.decisions[len((before or {}).get("decisions") or []) :]
    return [_decision_event(d) for d in made]


def _decision_event(decision: dict[str, Any]) -> tuple[str, str, str]:
    if decision["action"] == "RollBack":
        return WARNING, "CanaryRolledBack", f"{decision['reason']}: {decision['message']}"
    return NORMAL, "CanaryPromoted", decision["message"]
