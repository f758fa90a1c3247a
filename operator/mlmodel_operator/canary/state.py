"""`status.canary`: where an experiment stands, read back on every pass.

Why in status: the operator never writes spec (a GitOps tool would see drift), so the
step reached, when it started and every decision live here; the pod template follows
`percent` from here, and a restarted operator carries on from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mlmodel_operator.clock import format_time, parse_time

PENDING, REFUSED = "Pending", "Refused"  # the candidate is not deployable (yet): not in the pods
PROGRESSING, MANUAL = "Progressing", "Manual"  # in the pods, stepping automatically or not
PROMOTED, ROLLED_BACK = "Promoted", "RolledBack"  # final for this experiment
IN_PODS = frozenset({PROGRESSING, MANUAL, PROMOTED})
FINAL = frozenset({PROMOTED, ROLLED_BACK})
KEPT_DECISIONS = 10
# Readings a pass may not have (observe.Observed.to_status): deleted when absent.
OPTIONAL_OBSERVED = {"p99Ms": None, "unreachable": None}


@dataclass(frozen=True)
class CanaryState:
    key: str  # the experiment: versions, digests and spec.canary; a new one starts afresh
    entry: str
    package: str
    stable: str
    candidate: str
    state: str
    percent: int  # the candidate's share the pods are set to
    mirror: bool
    step: int = 0  # index into promotion.steps
    step_started: datetime | None = None  # when every pod ran this step
    observed: dict[str, Any] | None = None  # this step's pods, as last read
    observed_at: datetime | None = None
    reason: str = ""
    message: str = ""
    decisions: tuple[dict[str, Any], ...] = ()

    @property
    def in_pods(self) -> bool:
        return self.state in IN_PODS

    def decided(self, at: datetime, action: str, reason: str, message: str) -> CanaryState:
        """This state with one more decision recorded (the last few are kept)."""
        entry = {
            "time": format_time(at),
            "step": self.step + 1,
            "percent": self.percent,
            "action": action,
            "reason": reason,
            "message": message,
            **({"observed": self.observed} if self.observed else {}),
        }
        return replace(self, decisions=(*self.decisions, entry)[-KEPT_DECISIONS:])

    def to_status(self) -> dict[str, Any]:
        """The status object; a field that no longer applies is None, which the merge
        patch deletes (a new step must not keep the last one's start or readings)."""
        fmt = lambda t: format_time(t) if t else None  # noqa: E731
        return {
            "key": self.key,
            "name": self.entry,
            "package": self.package,
            "stable": self.stable,
            "candidate": self.candidate,
            "state": self.state,
            "percent": self.percent,
            "mirror": self.mirror,
            "step": self.step + 1,
            "stepStartedAt": fmt(self.step_started),
            "observedAt": fmt(self.observed_at),
            "observed": {**OPTIONAL_OBSERVED, **self.observed} if self.observed else None,
            "reason": self.reason,
            "message": self.message,
            "decisions": list(self.decisions),
        }

    @classmethod
    def from_status(cls, status: dict[str, Any]) -> CanaryState:
        return cls(
            key=str(status.get("key", "")),
            entry=str(status.get("name", "")),
            package=str(status.get("package", "")),
            stable=str(status.get("stable", "")),
            candidate=str(status.get("candidate", "")),
            state=str(status.get("state", PENDING)),
            percent=int(status.get("percent", 0)),
            mirror=bool(status.get("mirror", False)),
            step=max(0, int(status.get("step", 1)) - 1),
            step_started=parse_time(status.get("stepStartedAt")),
            observed=_present(status.get("observed")),
            observed_at=parse_time(status.get("observedAt")),
            reason=str(status.get("reason", "")),
            message=str(status.get("message", "")),
            decisions=tuple(status.get("decisions") or ()),
        )


def _present(observed: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: v for k, v in observed.items() if v is not None} if observed else None
