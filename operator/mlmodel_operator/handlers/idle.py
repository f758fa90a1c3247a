"""Idle stop within one serving reconcile: before the children are applied, whether the
service stops now (reading its pods when a stop is due); after the pods are read, the
last requests of pods going away, before their counts go with them.

The decisions are pure (status/idlestop.py); this module only reads the pods (as the pod
watch reports them, podcache.py) and their metrics. Like auto-stop, a due stop is noticed
by the resync (MLMODEL_OPERATOR_RESYNC_SECONDS).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlmodel_operator import activity
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.status import idlestop
from mlmodel_operator.status.runstate import RunState


def _read(rt: Runtime, pods: list[dict[str, Any]]) -> idlestop.Seen:
    return activity.read(pods, rt.config.pod_metrics_url, rt.config.pod_metrics_timeout)


def before_apply(
    rt: Runtime, owner: dict[str, Any], run: RunState, now: datetime
) -> tuple[RunState, idlestop.Idle | None]:
    """The run state with idle stop applied, and the idle bookkeeping (None: not enabled)."""
    spec, status = owner.get("spec") or {}, owner.get("status") or {}
    if run.stopped or not spec.get("idleStop"):
        return run, None
    seen = _read(rt, rt.pods_of(owner)) if idlestop.look_due(spec, status, run, now) else None
    idle = idlestop.decide(spec, status, run, seen, now)
    return (idlestop.stopped(spec, idle, now) if idle.stop else run), idle


def after_read(
    rt: Runtime,
    owner: dict[str, Any],
    run: RunState,
    idle: idlestop.Idle | None,
    pods: list[dict[str, Any]],
) -> idlestop.Idle | None:
    """Fold in the last requests of terminating pods (a rollout, a scale-down), read while
    their preStop sleep keeps them answering; one that no longer answers has drained, and
    what it reported before is already folded in only if an earlier read saw it."""
    going = [p for p in pods if (p.get("metadata") or {}).get("deletionTimestamp")]
    if idle is None or idle.stop or not going:
        return idle
    seen = _read(rt, going)
    if seen.last_request is None:
        return idle
    return idlestop.advanced(owner.get("spec") or {}, idle, run, seen.last_request)
