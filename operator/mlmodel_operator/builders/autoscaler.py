"""The HorizontalPodAutoscaler of a serving owner with `spec.autoscaling` (pure).

A CPU target is a Resource metric (metrics-server's); requests in flight is a Pods metric,
`mlmodel_inference_requests_in_flight` as every inference pod exports it, which a custom
metrics API (e.g. prometheus-adapter) must serve under that name. `scaleDownDelaySeconds`
is the scale-down stabilisation window, so a short lull does not remove pods.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders import common

API_VERSION = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"
IN_FLIGHT_METRIC = "mlmodel_inference_requests_in_flight"


def settings(owner: dict[str, Any]) -> dict[str, Any] | None:
    """`spec.autoscaling`, or None when the replicas are the spec's."""
    return ((owner.get("spec") or {}).get("autoscaling")) or None


def metric(target: dict[str, Any]) -> dict[str, Any]:
    if "cpuUtilization" in target:
        utilization = {"type": "Utilization", "averageUtilization": int(target["cpuUtilization"])}
        return {"type": "Resource", "resource": {"name": "cpu", "target": utilization}}
    average = {"type": "AverageValue", "averageValue": str(int(target["requestsInFlight"]))}
    return {"type": "Pods", "pods": {"metric": {"name": IN_FLIGHT_METRIC}, "target": average}}


def build_autoscaler(owner: dict[str, Any], component: str) -> dict[str, Any] | None:
    """The HPA scaling the owner's Deployment, or None without `spec.autoscaling`."""
    auto = settings(owner)
    if auto is None:
        return None
    name = common.child_name(owner["metadata"]["name"], component)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": common.child_metadata(owner, name, component),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": int(auto.get("minReplicas", 1)),
            "maxReplicas": int(auto["maxReplicas"]),
            "metrics": [metric(auto["target"])],
            "behavior": {
                "scaleDown": {"stabilizationWindowSeconds": int(auto.get("scaleDownDelaySeconds", 300))}
            },
        },
    }


def owned_by(hpa: dict[str, Any], owner: dict[str, Any]) -> bool:
    """Delete only an HPA this owner controls, never one a user made under the same name."""
    uid = owner["metadata"].get("uid")
    refs = (hpa.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)
