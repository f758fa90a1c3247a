"""MLModelService / VisionService status from resolution, run state and workload (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmodel_operator.packages import Resolution, safe_name
from mlmodel_operator.status.conditions import FALSE, TRUE, Cond, aggregate_ready, stamp
from mlmodel_operator.status.phase import compute_phase
from mlmodel_operator.status.runstate import RunState
from mlmodel_operator.status.workload import Workload


@dataclass(frozen=True)
class Observed:
    """Everything the reconcile learned, in one value for the pure composer."""

    generation: int
    now: str
    run: RunState
    resolution: Resolution  # what the spec asks for now
    effective: Resolution | None  # what is deployed (the last good pins if `resolution` failed)
    workload: Workload
    has_deployment: bool
    endpoint: str
    model_package: str | None  # the package holding model_path, for the tensor summary
    extra: tuple[Cond, ...] = ()  # e.g. MLModelServiceReady for a VisionService


def package_condition(resolution: Resolution) -> Cond:
    if not resolution.ok:
        return Cond("PackageResolved", FALSE, resolution.reason, resolution.message)
    pins = ", ".join(f"{p.name}={p.version}" for p in resolution.packages) or "no packages"
    return Cond("PackageResolved", TRUE, "Resolved", pins)


def stopped_condition(run: RunState) -> Cond:
    if run.stopped:
        return Cond(
            "Stopped",
            TRUE,
            run.stop_reason or "Stopped",
            "scaled to zero; set spec.restartedAt (after stopTime) or spec.stopped=false to start again",
        )
    return Cond("Stopped", FALSE, "Running", "")


def _workload_conditions(obs: Observed) -> tuple[Cond, Cond]:
    if obs.run.stopped:
        return (
            Cond("Available", FALSE, "Stopped", "scaled to zero"),
            Cond("Progressing", TRUE, "Stopped", "scaled to zero"),
        )
    return obs.workload.available, obs.workload.progressing


def conditions(obs: Observed) -> list[Cond]:
    available, progressing = _workload_conditions(obs)
    conds = [
        *obs.extra,
        package_condition(obs.resolution),
        progressing,
        available,
        stopped_condition(obs.run),
    ]
    positive = (*(c.type for c in obs.extra), "PackageResolved", "Progressing", "Available")
    return [*conds, aggregate_ready(conds, positive)]


def model_summary(obs: Observed, previous: dict[str, Any] | None) -> dict[str, Any] | None:
    """The tensor summary the model's init container reported; kept while pods are gone."""
    if obs.model_package is None:
        return previous
    found = obs.workload.summaries.get(f"fetch-{safe_name(obs.model_package)}")
    if not found:
        return previous
    return {"package": obs.model_package, **found}


def compose(obs: Observed, old: dict[str, Any]) -> dict[str, Any]:
    """The full status to merge-patch; the writer decides whether it changed."""
    conds = conditions(obs)
    previous = old.get("conditions") or []
    phase = compute_phase(
        stopped=obs.run.stopped,
        resolved=obs.resolution.ok,
        resolve_reason=obs.resolution.reason,
        has_deployment=obs.has_deployment,
        serving=obs.workload.available.is_true,
        workload_phase=obs.workload.phase,
    )
    pins = obs.effective.packages if obs.effective else ()
    return {
        "observedGeneration": obs.generation,
        "phase": phase,
        "conditions": [stamp(c, obs.generation, obs.now, previous) for c in conds],
        "resolvedPackages": [p.to_status() for p in pins] or old.get("resolvedPackages") or [],
        "endpoint": obs.endpoint,
        "readyReplicas": 0 if obs.run.stopped else obs.workload.ready_replicas,
        "model": model_summary(obs, old.get("model")),
        **obs.run.status_fields(),
    }
