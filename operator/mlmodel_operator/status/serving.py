"""MLModelService / VisionService status from resolution, run state and workload (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from mlmodel_operator.packages import Resolution, safe_name
from mlmodel_operator.status.conditions import FALSE, TRUE, UNKNOWN, Cond, aggregate_ready, stamp
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


def inference_condition(obs: Observed) -> Cond:
    """InferenceVerified: what serves has answered a real inference.

    The operator does not ask the pods: a pod turns Ready only once its server's self-test
    inference passed, so Ready pods whose container ran are the proof, and their Ready
    transition is when it passed. Pods no container runtime ran (kwok) prove nothing, and
    the condition says so rather than guess.
    """
    tests, names = obs.workload.self_tests, _package_names(obs)
    if obs.run.stopped:
        return Cond("InferenceVerified", FALSE, "Stopped", "scaled to zero")
    if tests.passed:
        versions = ", ".join(f"{names.get(s.name, s.name)} {s.version}" for s in tests.passed)
        return Cond(
            "InferenceVerified",
            TRUE,
            "SelfTestPassed",
            f"{versions}: {tests.pods} Ready pod(s) answered their self-test inference, the latest at "
            f"{tests.latest}",
        )
    if tests.simulated_nodes:
        return Cond(
            "InferenceVerified",
            UNKNOWN,
            "NoSelfTestRan",
            f"no pod ran a self-test (the Ready pods on {', '.join(tests.simulated_nodes)} ran no "
            "container: a simulated node, such as kwok's)",
        )
    if obs.workload.ready_replicas:
        return Cond(
            "InferenceVerified",
            UNKNOWN,
            "PodsNotSeen",
            f"no Ready pod listed yet to show its self-test passed (the Deployment counts "
            f"{obs.workload.ready_replicas} available)",
        )
    if obs.workload.progressing.reason == "SelfTestFailed":
        return Cond("InferenceVerified", FALSE, "SelfTestFailed", obs.workload.progressing.message)
    return Cond("InferenceVerified", FALSE, "NoPodReady", "no pod has passed its self-test yet")


def conditions(obs: Observed) -> list[Cond]:
    """Every condition and the aggregate Ready.

    InferenceVerified gates Ready when it is False; Unknown (no container ran, or the pods are
    not listed yet) does not, since no self-test can settle it, and Ready's message says so.
    """
    available, progressing = _workload_conditions(obs)
    verified = inference_condition(obs)
    conds = [
        *obs.extra,
        package_condition(obs.resolution),
        progressing,
        available,
        verified,
        stopped_condition(obs.run),
    ]
    gating = ("InferenceVerified",) if verified.status != UNKNOWN else ()
    positive = (*(c.type for c in obs.extra), "PackageResolved", "Progressing", "Available", *gating)
    return [*conds, ready_condition(obs, conds, positive)]


def _package_names(obs: Observed) -> dict[str, str]:
    """Local name -> ModelPackage (a pod's annotation names packages by local name only)."""
    pins = (*obs.resolution.packages, *(obs.effective.packages if obs.effective else ()))
    return {p.name: p.package for p in pins}


def _serves(obs: Observed, names: dict[str, str]) -> str:
    served = obs.workload.serving
    if not served:
        return f"{obs.workload.ready_replicas} replica(s) serve"
    text = ", ".join(f"{names.get(s.name, s.name)} {s.version}" for s in served)
    return f"{text} {'serves' if len(served) == 1 else 'serve'}"


def _target(obs: Observed, names: dict[str, str]) -> str:
    """The deployed pins no Ready pod runs yet: what the rollout brings up."""
    running = {(s.name, s.version) for s in obs.workload.serving}
    pins = obs.effective.packages if obs.effective else ()
    new = [f"{names.get(p.name, p.name)} {p.version}" for p in pins if (p.name, p.version) not in running]
    return ", ".join(new) or "the new pod template"


def ready_condition(obs: Observed, conds: list[Cond], positive: tuple[str, ...]) -> Cond:
    """The aggregate Ready, which stays True while a version serves, saying which one.

    A refused or failing new version does not take the old one down (the rollout keeps
    the old pods), so Ready stays True then, with the failure's reason and a message that
    names the version serving and the one failing; the phase says Degraded. Ready turns
    False only when nothing serves, or for a cause that is not the new version's.
    """
    ready = aggregate_ready(conds, positive)
    by_type = {c.type: c for c in conds}
    if obs.run.stopped or not by_type["Available"].is_true:
        return ready
    said = _while_serving(obs, ready, by_type, positive)
    if said.is_true and by_type["InferenceVerified"].status == UNKNOWN:
        return replace(said, message=f"{said.message}; {by_type['InferenceVerified'].message}")
    return said


def _while_serving(obs: Observed, ready: Cond, by_type: dict[str, Cond], positive: tuple[str, ...]) -> Cond:
    """Ready while something serves: what serves, and what fails beside it."""
    names = _package_names(obs)
    serves = _serves(obs, names)
    if ready.is_true:
        if obs.workload.phase == "Deploying":
            return Cond("Ready", TRUE, "Ready", f"{serves}; rolling out {_target(obs, names)}")
        return Cond("Ready", TRUE, "Ready", serves)
    failing = next(by_type[t] for t in positive if not by_type[t].is_true)
    if failing.type == "PackageResolved":
        return Cond("Ready", TRUE, failing.reason, f"{serves}; {failing.message}")
    if failing.type == "Progressing":
        return Cond(
            "Ready", TRUE, failing.reason, f"{serves}; {_target(obs, names)} is failing: {failing.message}"
        )
    return ready


def serving_packages(obs: Observed) -> list[dict[str, Any]]:
    """What the Ready pods run, in the order of spec.packages (the Version column shows the first)."""
    names = _package_names(obs)
    order = [p.name for p in (obs.effective.packages if obs.effective else obs.resolution.packages)]
    rank = {name: i for i, name in enumerate(order)}
    served = sorted(obs.workload.serving, key=lambda s: (rank.get(s.name, len(rank)), s.name))
    return [s.to_status(names.get(s.name)) for s in served]


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
        "servingPackages": serving_packages(obs),
        "endpoint": obs.endpoint,
        "readyReplicas": 0 if obs.run.stopped else obs.workload.ready_replicas,
        "model": model_summary(obs, old.get("model")),
        **obs.run.status_fields(),
    }
