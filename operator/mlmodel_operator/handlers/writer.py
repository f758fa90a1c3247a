"""Write status only when it changed, and announce transitions as Events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.status.conditions import without_times
from mlmodel_operator.status.events import transition_events

log = logging.getLogger("mlmodel_operator.writer")


def _present(value: Any) -> Any:
    """What a merge patch leaves: a None field is deleted, in nested objects too."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None}
    return value


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    out = _present(status)
    out["conditions"] = without_times(status.get("conditions") or [])
    return dict(out)


def status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Timestamps alone never count as a change (they would make every reconcile write)."""
    return _comparable({**old, **new}) != _comparable(old)


def write_status(
    rt: Runtime,
    owner: dict[str, Any],
    old: dict[str, Any],
    new: dict[str, Any],
    extra_events: Sequence[tuple[str, str, str]] = (),
) -> bool:
    """Merge-patch `new` over `old` if it differs; post transition events. True if written."""
    events = [*extra_events, *transition_events(old, {**old, **new})]
    if not status_changed(old, new):
        return False
    updated = rt.kube.patch_status(owner, new)
    if updated is None:
        return False
    # The next pass (and a dependant's) must see this status, not the older watched body.
    rt.store.put(updated)
    meta = owner["metadata"]
    # One line per status change (never per reconcile): which replica acted, and when.
    phase = new.get("phase")
    where = f"{owner['kind']} {meta['namespace']}/{meta['name']}"
    log.info("%s: status written%s", where, f", phase {phase}" if phase else "")
    for type_, reason, message in events:
        rt.post(owner, type_, reason, message)
    return True
