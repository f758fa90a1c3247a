"""Auto-stop and declarative restart (pure), after ModelArts real-time services.

A service runs from `runningSince`; with `spec.autoStop` it stops at
`runningSince + autoStop` (reported as `autoStopDueTime`): the Deployment is
scaled to zero, every object is kept, and `stopTime` is recorded. It runs again
when `spec.restartedAt` is set to a time after `stopTime` (a GitOps commit or a
`kubectl patch`), or when `spec.stopped` goes back to false after a manual
stop. With `spec.wakeOnRequest`, a stop the operator made (auto-stop, idle stop) also
ends when the activator records a wake of it (`status.wakeRequestedFor`: that `stopTime`): a restart like
`restartedAt`, timers included. `spec.stopped` is never woken: the spec says stopped, and
running pods under it would contradict what the repository declares. Time always comes
from the injected clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mlmodel_operator.clock import format_time, parse_time

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
MIN_AUTO_STOP = timedelta(minutes=1)
MAX_AUTO_STOP = timedelta(days=7)
STOPPED_BY_SPEC, AUTO_STOP, IDLE_STOP = "StoppedBySpec", "AutoStop", "IdleStop"
WAKEABLE = frozenset({AUTO_STOP, IDLE_STOP})  # the stops the operator made, not the user


def parse_duration(text: str) -> timedelta:
    """`90m`, `2h`, `1h30m`, `7d`: the CRD pattern, checked again for direct callers."""
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"invalid duration {text!r} (use e.g. 90m, 2h, 1d)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if not MIN_AUTO_STOP <= value <= MAX_AUTO_STOP:
        raise ValueError(f"duration {text!r} must be between 1m and 7d")
    return value


@dataclass(frozen=True)
class RunState:
    """Whether the owner should have replicas, and the status fields that say why."""

    stopped: bool
    stop_time: datetime | None = None
    stop_reason: str | None = None
    running_since: datetime | None = None
    due_time: datetime | None = None
    event: tuple[str, str] | None = None  # (reason, message) for a transition

    def status_fields(self) -> dict[str, Any]:
        """Merge-patch fields; None deletes a field that no longer applies."""
        fmt = lambda t: format_time(t) if t else None  # noqa: E731
        return {
            "stopTime": fmt(self.stop_time),
            "stopReason": self.stop_reason,
            "runningSince": fmt(self.running_since),
            "autoStopDueTime": fmt(self.due_time),
        }


def _stopped(at: datetime, reason: str, event: tuple[str, str] | None = None) -> RunState:
    return RunState(stopped=True, stop_time=at, stop_reason=reason, event=event)


def _restart_wanted(spec: dict[str, Any], stop_time: datetime, reason: str | None) -> bool:
    if reason == STOPPED_BY_SPEC:
        return True  # spec.stopped is false again
    restarted = parse_time(spec.get("restartedAt"))
    return restarted is not None and restarted > stop_time


def wake_wanted(spec: dict[str, Any], status: dict[str, Any]) -> bool:
    """The activator asked to end this very stop (it names the stopTime it read, so no
    clocks of two machines are compared) of an operator-made stop of a waking service."""
    stop_time = parse_time(status.get("stopTime"))
    reason = status.get("stopReason") or AUTO_STOP
    woken_for = parse_time(status.get("wakeRequestedFor"))
    waking = bool(spec.get("wakeOnRequest")) and reason in WAKEABLE
    return waking and stop_time is not None and woken_for == stop_time


def wakes(spec: dict[str, Any], run: RunState) -> bool:
    """A stopped service whose Service should lead to the activator rather than nowhere."""
    return bool(spec.get("wakeOnRequest")) and run.stopped and run.stop_reason in WAKEABLE


def decide(spec: dict[str, Any], status: dict[str, Any], now: datetime) -> RunState:
    """The next run state from the spec, the previous status, and the clock."""
    stop_time, reason = parse_time(status.get("stopTime")), status.get("stopReason")
    if spec.get("stopped"):
        if stop_time is not None:
            return _stopped(stop_time, reason or STOPPED_BY_SPEC)
        return _stopped(now, STOPPED_BY_SPEC, ("Stopped", "The service was stopped (spec.stopped)."))
    since, event = parse_time(status.get("runningSince")), None
    if stop_time is not None:
        if wake_wanted(spec, status):
            since, event = now, ("Woken", "A request reached the activator: the service runs again.")
        elif not _restart_wanted(spec, stop_time, reason):
            return _stopped(stop_time, reason or AUTO_STOP)
        else:
            since, event = now, ("Restarted", "The service was restarted.")
    elif since is None:
        since = now
    elif (restarted := parse_time(spec.get("restartedAt"))) and restarted > since:
        since, event = now, ("Restarted", "The auto stop timer was restarted.")
    return _running(spec, since, now, event)


def _running(spec: dict[str, Any], since: datetime, now: datetime, event: tuple[str, str] | None) -> RunState:
    if not spec.get("autoStop"):
        return RunState(stopped=False, running_since=since, event=event)
    due = since + parse_duration(spec["autoStop"])
    if now >= due:
        return _stopped(now, AUTO_STOP, ("AutoStopped", "The service stops when the auto stop time expires."))
    return RunState(stopped=False, running_since=since, due_time=due, event=event)


def seconds_until_due(state: RunState, now: datetime) -> float | None:
    """How long until the auto-stop fires (for scheduling a timely re-check)."""
    if state.due_time is None:
        return None
    return max(0.0, (state.due_time - now).total_seconds())
