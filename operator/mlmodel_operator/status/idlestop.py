"""Idle stop (pure): stop a service once no inference request arrived for `spec.idleStop`.

The last request time comes from the pods (`mlmodel_last_request_timestamp_seconds` in
their /metrics), never from a guess. The operator reads them only when the stop could fire
on what it already knows (the due time: the newest request it has seen, or `runningSince`
if later, plus `idleStop`), so a service costs one read per pod per idle period, not one per
resync; a read that finds a newer request moves the due time on. A running pod that does not
answer holds the stop back: not knowing is never taken for idleness. Stopping is auto-stop's (same
`stopTime`, same restart by `spec.restartedAt`), with its own reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from mlmodel_operator.clock import format_time, parse_time
from mlmodel_operator.status.runstate import IDLE_STOP, RunState, parse_duration


@dataclass(frozen=True)
class Seen:
    """What one read of the pods found."""

    last_request: datetime | None = None  # the newest inference any pod answered
    pods: int = 0
    unreadable: tuple[str, ...] = ()  # "pod: why"

    def plus(self, other: Seen) -> Seen:
        return Seen(
            _latest(self.last_request, other.last_request),
            self.pods + other.pods,
            self.unreadable + other.unreadable,
        )


@dataclass(frozen=True)
class Idle:
    """The idle bookkeeping of a running service, and whether it stops now."""

    last_request: datetime | None
    due: datetime | None
    stop: bool = False
    deferred: str | None = None  # why a due stop waits

    def status_fields(self) -> dict[str, Any]:
        """Merge-patch fields; None deletes one that no longer applies."""
        return {
            "lastRequestTime": format_time(self.last_request) if self.last_request else None,
            "idleStopDueTime": None if self.stop or self.due is None else format_time(self.due),
            "idleStopDeferred": self.deferred,
        }


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def idle_period(spec: dict[str, Any]) -> timedelta | None:
    return parse_duration(spec["idleStop"]) if spec.get("idleStop") else None


def known(spec: dict[str, Any], status: dict[str, Any], run: RunState, seen: Seen | None = None) -> Idle:
    """What the status (and a read, if any) already says, for a running service."""
    period = idle_period(spec)
    last = _latest(parse_time(status.get("lastRequestTime")), seen.last_request if seen else None)
    if period is None or run.stopped:
        return Idle(last, None)
    base = _latest(last, run.running_since)
    return Idle(last, base + period if base else None)


def look_due(spec: dict[str, Any], status: dict[str, Any], run: RunState, now: datetime) -> bool:
    """Only a stop that could fire now is worth asking the pods about."""
    due = known(spec, status, run).due
    return due is not None and now >= due


def decide(
    spec: dict[str, Any], status: dict[str, Any], run: RunState, seen: Seen | None, now: datetime
) -> Idle:
    """The idle state after a read of the pods (`seen`), or without one."""
    idle = known(spec, status, run, seen)
    if seen is None or idle.due is None or now < idle.due:
        return idle
    if seen.unreadable:
        why = "; ".join(seen.unreadable)
        return Idle(idle.last_request, idle.due, deferred=f"a pod's last request is unknown: {why}")
    return Idle(idle.last_request, idle.due, stop=True)


def stopped(spec: dict[str, Any], idle: Idle, now: datetime) -> RunState:
    """The run state of a service idle stop has just stopped."""
    since = format_time(idle.last_request) if idle.last_request else "it started"
    message = f"No inference request since {since}: stopped after {spec['idleStop']} idle."
    return RunState(stopped=True, stop_time=now, stop_reason=IDLE_STOP, event=("IdleStopped", message))


def advanced(spec: dict[str, Any], idle: Idle, run: RunState, last_request: datetime) -> Idle:
    """`idle` with a request seen elsewhere (a terminating pod) folded in."""
    status = {"lastRequestTime": format_time(idle.last_request)} if idle.last_request else {}
    return replace(known(spec, status, run, Seen(last_request)), deferred=idle.deferred)


def status_fields(idle: Idle | None, spec: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The idle fields of status; a stopped service keeps its last request time while
    idle stop stays enabled (it says why the service stopped)."""
    if idle is not None:
        return idle.status_fields()
    keep = old.get("lastRequestTime") if spec.get("idleStop") else None
    return {"lastRequestTime": keep, "idleStopDueTime": None, "idleStopDeferred": None}
