"""Which Kubernetes Events a status transition deserves (pure).

Events are posted on transitions only, never on every reconcile, so
`kubectl describe` tells the story of a service instead of repeating it. A
step that always leads to a phase of its own is not announced: a service that
served nothing yet deploys on its way to Running, Degraded or Failed, each of
which is. Deploying is announced when a version serves meanwhile: a rollout.
PackageResolved is announced when a resolved version changes (a new `latest`, a new
pin); a new service's first versions are named by the phase it reaches ("fruit 1
serves", or the failure's message).
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.events import MAX_MESSAGE

NORMAL, WARNING = "Normal", "Warning"
_WARNING_PHASES = frozenset({"Failed", "Degraded"})
_SERVING_PHASES = frozenset({"Running", "Degraded"})
# Where each failure reason and what to do about it are explained (the docs ship with the chart's
# source; a Warning names the section so `kubectl describe` leads to the fix).
TROUBLESHOOTING = "docs/operator.md#troubleshooting"


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})


def _ready_message(status: dict[str, Any]) -> str:
    return str(_ready(status).get("message", ""))


def _versions(status: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["version"] for p in status.get("resolvedPackages") or []}


def transition_events(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, reason, message) for every notable change from `old` to `new` status."""
    events: list[tuple[str, str, str]] = []
    before, after = _versions(old), _versions(new)
    for name, version in sorted(after.items()):
        if before.get(name) not in (None, version):  # a first resolution: the phase event names it
            events.append((NORMAL, "PackageResolved", f"package {name}: {before[name]} -> {version}"))
    if old.get("autoStopDueTime") is None and new.get("autoStopDueTime"):
        events.append(
            (
                NORMAL,
                "AutoStopEnabled",
                f"Auto stop has been enabled. The service will stop at {new['autoStopDueTime']}.",
            )
        )
    if old.get("autoStopDueTime") and new.get("autoStopDueTime") is None and not new.get("stopTime"):
        events.append((NORMAL, "AutoStopDisabled", "Auto stop has been disabled."))
    phase_event = _phase_event(old, new)
    return [*events, phase_event] if phase_event else events


def _phase_event(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str, str] | None:
    phase = new.get("phase")
    if not phase or (phase == "Deploying" and old.get("phase") not in _SERVING_PHASES):
        return None  # Deploying while nothing serves: the phase it reaches is announced
    if phase != old.get("phase"):
        if phase in _WARNING_PHASES:
            return WARNING, phase, _warning_message(new)
        return NORMAL, phase, _ready_message(new) or f"phase is now {phase}"
    if phase in _WARNING_PHASES and _ready(new).get("reason") != _ready(old).get("reason"):
        # Still failing, for another reason (e.g. Unschedulable, then CrashLoopBackOff once the
        # pod runs): the new cause deserves its own Warning.
        return WARNING, phase, _warning_message(new)
    return None


def _warning_message(status: dict[str, Any]) -> str:
    """Ready's message, then the failure's reason and the doc section that says what to do;
    the message is shortened, not the pointer, to fit the API server's limit."""
    message = _ready_message(status) or f"phase is now {status.get('phase')}"
    reason = _ready(status).get("reason")
    if not reason:
        return message
    pointer = f" ({reason}: see {TROUBLESHOOTING})"
    room = MAX_MESSAGE - len(pointer)
    return (message if len(message) <= room else message[: room - 3] + "...") + pointer
