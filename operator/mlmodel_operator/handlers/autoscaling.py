"""`spec.autoscaling` within one serving reconcile: the HPA, and who owns the replicas.

Without autoscaling the Deployment's manifest carries the replicas (0 when stopped). With
it, the manifest leaves them out and the HorizontalPodAutoscaler sets them, except when the
service stops (0, which the HPA leaves alone: it does not scale a target at zero).

Server-side apply removes a field its only manager stops applying, and a Deployment without
replicas is defaulted to 1: leaving them out after owning them would scale a busy service
down to one pod. So before the manifest without replicas is applied, a second field manager
(`mlmodel-operator-scale`) applies just the current count, and keeps it once the operator's
manifest lets go; the HPA's own updates then take it over. The same manager brings a service
that runs again (or was scaled below `minReplicas`) up to `minReplicas`, since the HPA would
not move it from zero.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator import FIELD_MANAGER
from mlmodel_operator.builders import autoscaler, common
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import delete_exactly, object_path
from mlmodel_operator.k8s.compare import covers, with_manifest_hash
from mlmodel_operator.status import autoscaling as autoscaling_status
from mlmodel_operator.status.conditions import stamp
from mlmodel_operator.status.runstate import RunState

SCALE_MANAGER = f"{FIELD_MANAGER}-scale"


def replicas(spec: dict[str, Any], run: RunState) -> int | None:
    """The Deployment's replicas; None: the HPA's to set."""
    if run.stopped:
        return 0
    if spec.get("autoscaling"):
        return None
    return int(spec.get("replicas", 1))


def _live_replicas(live: dict[str, Any]) -> int:
    return int((live.get("spec") or {}).get("replicas") or 0)


def hand_over(rt: Runtime, owner: dict[str, Any], deployment: dict[str, Any]) -> None:
    """Before `deployment` (without replicas) is applied: keep the count, or raise it to
    minReplicas. A Deployment not created yet starts at 1 and the HPA takes it from there."""
    meta = deployment["metadata"]
    live = rt.store.get("Deployment", meta["namespace"], meta["name"])
    if live is None:
        return
    current, minimum = _live_replicas(live), int((autoscaler.settings(owner) or {}).get("minReplicas", 1))
    if current >= minimum and covers(live, with_manifest_hash(deployment)):
        return  # nothing will be applied, and nothing to raise
    scale = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        "spec": {"replicas": max(current, minimum)},
    }
    rt.store.put(rt.kube.apply(scale, manager=SCALE_MANAGER))


def desired(replicas_: int | None, deployment: dict[str, Any] | None, owner: dict[str, Any]) -> int:
    """The replica count the workload is assessed against."""
    if replicas_ is not None:
        return max(replicas_, 1)
    minimum = int((autoscaler.settings(owner) or {}).get("minReplicas", 1))
    return max(_live_replicas(deployment or {}), minimum)


def sync(rt: Runtime, owner: dict[str, Any], component: str) -> dict[str, Any] | None:
    """Apply the HPA, or delete ours once autoscaling is off; the HPA as last seen."""
    namespace = owner["metadata"]["namespace"]
    name = common.child_name(owner["metadata"]["name"], component)
    hpa = autoscaler.build_autoscaler(owner, component)
    if hpa is not None:
        rt.ensure(hpa)
        return rt.store.get(autoscaler.KIND, namespace, name)
    existing = rt.store.get(autoscaler.KIND, namespace, name)
    if existing is not None and autoscaler.owned_by(existing, owner):
        path = object_path(autoscaler.API_VERSION, autoscaler.KIND, namespace, name)
        delete_exactly(rt.kube, path, existing["metadata"]["uid"])
        rt.store.remove(existing)
    return None


def with_status(
    status: dict[str, Any],
    owner: dict[str, Any],
    hpa: dict[str, Any] | None,
    run: RunState,
    now: str,
    previous: list[dict[str, Any]],
) -> dict[str, Any]:
    """`status.autoscaling` and the Autoscaling condition (removed with autoscaling)."""
    if autoscaler.settings(owner) is None:
        return {**status, "autoscaling": None}
    spec = owner.get("spec") or {}
    cond = autoscaling_status.condition(hpa, run.stopped, int(spec.get("replicas", 1)))
    stamped = stamp(cond, status["observedGeneration"], now, previous)
    return {
        **status,
        "autoscaling": autoscaling_status.fields(hpa),
        "conditions": [*status["conditions"], stamped],
    }
