"""What status says about a service's autoscaling (pure): the HPA's figures and the
`Autoscaling` condition, which tells why `spec.replicas` is ignored, or why the HPA cannot
scale (no metrics: its own reason and message, e.g. metrics-server missing).

The condition never gates `Ready`: a service that cannot scale still serves.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.status.conditions import FALSE, TRUE, UNKNOWN, Cond


def _hpa_condition(hpa: dict[str, Any], type_: str) -> dict[str, Any]:
    conditions = (hpa.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == type_), {})


def target(hpa: dict[str, Any]) -> str:
    """What the HPA keeps the pods at: `cpu 70%`, `mlmodel_inference_requests_in_flight 4 per pod`.

    The value it last measured is left to `kubectl get hpa`: copied here it would change status,
    and so write it, at every one of the HPA's syncs.
    """
    spec = ((hpa.get("spec") or {}).get("metrics") or [{}])[0]
    if spec.get("type") == "Resource":
        return f"cpu {spec['resource']['target'].get('averageUtilization')}%"
    pods = spec.get("pods") or {}
    return (
        f"{(pods.get('metric') or {}).get('name')} {(pods.get('target') or {}).get('averageValue')} per pod"
    )


def fields(hpa: dict[str, Any] | None) -> dict[str, Any] | None:
    """`status.autoscaling`, None without an HPA (merge patch deletes it)."""
    if hpa is None:
        return None
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    out = {
        "horizontalPodAutoscaler": hpa["metadata"]["name"],
        "minReplicas": spec.get("minReplicas"),
        "maxReplicas": spec.get("maxReplicas"),
        "currentReplicas": status.get("currentReplicas"),
        "desiredReplicas": status.get("desiredReplicas"),
        "target": target(hpa),
        "lastScaleTime": status.get("lastScaleTime"),
    }
    return {k: v for k, v in out.items() if v is not None}


def condition(hpa: dict[str, Any] | None, stopped: bool, replicas: int) -> Cond:
    """Autoscaling: True while the HPA sets the replicas; why not, otherwise."""
    if stopped:
        return Cond("Autoscaling", FALSE, "Stopped", "scaled to zero; the HorizontalPodAutoscaler waits")
    if hpa is None:
        return Cond("Autoscaling", UNKNOWN, "Pending", "the HorizontalPodAutoscaler is not created yet")
    active = _hpa_condition(hpa, "ScalingActive")
    if not active:
        return Cond("Autoscaling", UNKNOWN, "Pending", "the HorizontalPodAutoscaler has not reported yet")
    if active.get("status") != TRUE:
        return Cond(
            "Autoscaling", FALSE, active.get("reason") or "ScalingInactive", active.get("message", "")
        )
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    name = hpa["metadata"]["name"]
    message = (
        f"HorizontalPodAutoscaler {name} sets the replicas ({spec.get('minReplicas')}-"
        f"{spec.get('maxReplicas')} at {target(hpa)}): {status.get('currentReplicas', '?')} now; "
        f"spec.replicas ({replicas}) is ignored"
    )
    return Cond("Autoscaling", TRUE, active.get("reason") or "ScalingActive", message)
