"""The one-word phase shown by `kubectl get` (pure)."""

from __future__ import annotations

from mlmodel_operator.packages import BLOCKING_REASONS

PHASES = ("Pending", "Deploying", "Running", "Stopped", "Failed", "Degraded")
# Not a failure but a step: the operator has not checked the new version's bytes yet
# (it does so within one ModelPackage reconcile). Reporting it as Degraded would post a
# Warning for every new version and show a reason that turns out wrong a moment later.
TRANSIENT_REASONS = frozenset({"PackageNotVerified"})


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
            # The previous version keeps serving while the new one is checked or refused.
            return "Deploying" if resolve_reason in TRANSIENT_REASONS else "Degraded"
        return "Failed" if resolve_reason in BLOCKING_REASONS else "Pending"
    return workload_phase
