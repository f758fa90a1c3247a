"""The one-word phase shown by `kubectl get` (pure)."""

from __future__ import annotations

from mlmodel_operator.packages import BLOCKING_REASONS

PHASES = ("Pending", "Deploying", "Running", "Stopped", "Failed", "Degraded")


def compute_phase(
    *,
    stopped: bool,
    resolved: bool,
    resolve_reason: str,
    has_deployment: bool,
    serving: bool,
    workload_phase: str,
) -> str:
    """Stopped wins; an unresolvable spec degrades a serving workload or blocks a new one."""
    if stopped:
        return "Stopped"
    if not resolved:
        if has_deployment and serving:
            return "Degraded"  # the previous version keeps serving
        return "Failed" if resolve_reason in BLOCKING_REASONS else "Pending"
    return workload_phase
