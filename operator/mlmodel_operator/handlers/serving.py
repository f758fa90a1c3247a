"""MLModelService and VisionService: one reconcile, two ways to plan it.

Steps: decide the run state (auto-stop/restart) from the clock, plan the
packages, apply the children, read back the Deployment and pods, compose
status from that reality, and write it if it changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlmodel_operator import API_VERSION
from mlmodel_operator.builders import common
from mlmodel_operator.builders.candidate import CandidatePods
from mlmodel_operator.builders.children import (
    build_configmap,
    build_deployment,
    vision_config,
)
from mlmodel_operator.builders.pod import ServingInputs
from mlmodel_operator.canary import report
from mlmodel_operator.clock import format_time
from mlmodel_operator.handlers import autoscaling, canary, wake
from mlmodel_operator.handlers import idle as idle_stop
from mlmodel_operator.handlers.networkpolicy import sync_network_policy
from mlmodel_operator.handlers.plans import Plan, plan_mlmodel, plan_vision
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.writer import write_status
from mlmodel_operator.packages import Resolution, UnknownPackageError
from mlmodel_operator.status import idlestop, runstate, serving, workload

AUTO_STOP_LAG = 0.2  # seconds after the due time that its pass is queued


def _inputs(
    rt: Runtime, owner: dict[str, Any], component: str, plan: Plan, candidate: CandidatePods | None
) -> ServingInputs:
    assert plan.effective is not None and plan.model_service is not None
    return ServingInputs(
        owner=owner,
        component=component,
        model_name=plan.model_service["metadata"]["name"],
        attributes=plan.attributes,
        packages=plan.effective.packages,
        image=rt.config.image,
        image_pull_policy=rt.config.image_pull_policy,
        fetch_max_bytes=rt.config.fetch_max_bytes,
        vision_config=vision_config(owner) if component == "vision" else None,
        termination=rt.config.termination,
        candidate=candidate,
    )


def _apply_workload(
    rt: Runtime,
    owner: dict[str, Any],
    component: str,
    plan: Plan,
    replicas: int | None,
    candidate: CandidatePods | None = None,
) -> tuple[str | None, Plan]:
    """Apply ConfigMap (vision) and Deployment where they differ from the watched ones.

    Returns the desired template hash and the plan (failed if a package is unknown).
    """
    if plan.effective is None:
        return None, plan
    try:
        deployment = build_deployment(_inputs(rt, owner, component, plan, candidate), replicas)
    except UnknownPackageError as exc:
        failed = Resolution(reason="UnknownPackage", message=str(exc))
        return None, Plan(failed, None, plan.model_service, plan.extra)
    new = never_reconciled(owner)
    if component == "vision":
        rt.ensure(build_configmap(owner), new)
    if replicas is None:
        autoscaling.hand_over(rt, owner, deployment)
    rt.ensure(deployment, new)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations[common.ANNOTATION_TEMPLATE_HASH], plan


def never_reconciled(owner: dict[str, Any]) -> bool:
    """No status written yet: the owner is new, and so are its children."""
    return not (owner.get("status") or {}).get("observedGeneration")


def _read_workload(
    rt: Runtime,
    owner: dict[str, Any],
    component: str,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    namespace, name = owner["metadata"]["namespace"], owner["metadata"]["name"]
    deployment = rt.read("apps/v1", "Deployment", namespace, common.child_name(name, component))
    if not (deployment or {}).get("status"):
        return deployment, []  # not seen by the deployment controller yet: no ReplicaSet, no pod
    return deployment, rt.pods_of(owner)


def _current_hash(deployment: dict[str, Any] | None) -> str:
    template = ((deployment or {}).get("spec") or {}).get("template") or {}
    return str(
        ((template.get("metadata") or {}).get("annotations") or {}).get(common.ANNOTATION_TEMPLATE_HASH, "")
    )


def schedule_auto_stop(rt: Runtime, key: tuple[str, str, str], run: runstate.RunState, now: datetime) -> None:
    """Reconcile again when the auto-stop falls due, instead of at the next resync (up to a
    resync interval late); just after it, so that pass's clock reads the due time."""
    wait = runstate.seconds_until_due(run, now)
    if wait is not None:
        rt.queue.add_after(key, wait + AUTO_STOP_LAG)


def reconcile_serving(rt: Runtime, kind: str, namespace: str, name: str) -> bool:
    """One pass; True when the owner's status changed (its dependants may need a pass)."""
    owner = rt.read(API_VERSION, kind, namespace, name)
    if owner is None or owner["metadata"].get("deletionTimestamp"):
        return False
    component, now = common.COMPONENT_OF_KIND[kind], rt.clock()
    spec, old = owner.get("spec") or {}, owner.get("status") or {}
    # 1. Auto-stop and restart are decided first: they set the replica count.
    run = runstate.decide(spec, old, now)
    schedule_auto_stop(rt, (kind, namespace, name), run, now)
    run, idle = idle_stop.before_apply(rt, owner, run, now)
    replicas = autoscaling.replicas(spec, run)
    # 2. Resolve packages and apply the children (a failed resolution keeps the last pins).
    plan = plan_mlmodel(rt, owner) if component == "mlmodel" else plan_vision(rt, owner)
    # Children are compared with the watched ones and written only where they differ: an idle
    # resync sends no write.
    # A canary's state (from status) decides whether and how the pods load its candidate.
    step = canary.begin(rt, owner, plan) if component == "mlmodel" else None
    desired_hash, plan = _apply_workload(rt, owner, component, plan, replicas, step.pods if step else None)
    sync_network_policy(rt, owner, component)
    hpa = autoscaling.sync(rt, owner, component)
    # 3. Status comes from what the API server reports, not from what was applied.
    deployment, pods = _read_workload(rt, owner, component)
    # The Service leads to the activator while a waking service has no Ready pod.
    wake.sync_service(rt, owner, component, run, deployment, never_reconciled(owner))
    idle = idle_stop.after_read(rt, owner, run, idle, pods)
    desired = autoscaling.desired(replicas, deployment, owner)
    work = workload.assess(deployment, pods, desired_hash or _current_hash(deployment), desired)
    observed = serving.Observed(
        generation=owner["metadata"].get("generation", 0),
        now=format_time(now),
        run=run,
        resolution=plan.resolution,
        effective=plan.effective,
        workload=work,
        has_deployment=deployment is not None,
        endpoint=common.endpoint(owner, component),
        model_package=plan.model_package,
        extra=plan.extra,
    )
    extra_events = [("Normal", *run.event)] if run.event else []
    status = {**serving.compose(observed, old), **idlestop.status_fields(idle, spec, old)}
    status = autoscaling.with_status(status, owner, hpa, run, observed.now, old.get("conditions") or [])
    if component == "mlmodel":
        state = canary.finish(rt, owner, step, work, pods, desired_hash) if step else None
        status = report.with_canary(
            status, state, observed.generation, observed.now, old.get("conditions") or []
        )
        extra_events += report.events(old.get("canary"), state)
    return write_status(rt, owner, old, status, extra_events)
