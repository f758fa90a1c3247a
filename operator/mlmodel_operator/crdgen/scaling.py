"""Schema of scaling with demand: `spec.idleStop`, `spec.autoscaling`, and their status."""

from __future__ import annotations

from mlmodel_operator.crdgen.schema import DURATION_SECONDS, Schema, obj, string

CPU_RULE = (
    "!has(self.autoscaling) || !has(self.autoscaling.target.cpuUtilization) || "
    "(has(self.resources) && has(self.resources.requests) && 'cpu' in self.resources.requests)"
)


def idle_stop() -> Schema:
    return string(
        24,
        pattern=r"^([0-9]{1,3}d)?([0-9]{1,4}h)?([0-9]{1,5}m)?([0-9]{1,6}s)?$",
        description="Stop the service once no inference request arrived for this long (e.g. 30m, "
        "2h): scaled to zero, every object kept, restarted like auto-stop (spec.restartedAt). "
        "Between 1m and 7d.",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": f"self != '' && {DURATION_SECONDS} >= 60 && {DURATION_SECONDS} <= 604800",
                    "message": "idleStop must be a duration between 1m and 7d, e.g. 30m, 2h or 1d",
                }
            ]
        },
    )


def _target() -> Schema:
    return obj(
        {
            "cpuUtilization": {
                "type": "integer",
                "minimum": 1,
                "maximum": 1000,
                "description": "Average CPU use of the pods, in percent of resources.requests.cpu "
                "(needs metrics-server).",
            },
            "requestsInFlight": {
                "type": "integer",
                "minimum": 1,
                "maximum": 10000,
                "description": "Average inference requests in flight per pod, the pods metric "
                "mlmodel_inference_requests_in_flight (needs a custom metrics API serving it, "
                "e.g. prometheus-adapter).",
            },
        },
        None,
        description="Exactly one target the HorizontalPodAutoscaler keeps the pods at.",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.cpuUtilization) != has(self.requestsInFlight)",
                    "message": "set exactly one of cpuUtilization or requestsInFlight",
                }
            ]
        },
    )


def autoscaling() -> Schema:
    return obj(
        {
            "minReplicas": {"type": "integer", "minimum": 1, "maximum": 100, "default": 1},
            "maxReplicas": {"type": "integer", "minimum": 1, "maximum": 100},
            "target": _target(),
            "scaleDownDelaySeconds": {
                "type": "integer",
                "minimum": 0,
                "maximum": 3600,
                "default": 300,
                "description": "How long the load must stay low before pods are removed "
                "(the HorizontalPodAutoscaler's scale-down stabilisation window).",
            },
        },
        required=["maxReplicas", "target"],
        description="Scale on load with a HorizontalPodAutoscaler the operator owns; spec.replicas is "
        "then ignored.",
        **{
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
                    "message": "minReplicas must not exceed maxReplicas",
                    "fieldPath": ".minReplicas",
                }
            ]
        },
    )


def wake_on_request() -> Schema:
    return {
        "type": "boolean",
        "description": "When auto-stop or idle stop stopped the service, its Service leads to the "
        "shared activator, which holds requests, wakes the service and forwards them once a pod is "
        "Ready (HTTP only). spec.stopped is never woken.",
    }


def scaling_knobs() -> dict[str, Schema]:
    return {"idleStop": idle_stop(), "autoscaling": autoscaling(), "wakeOnRequest": wake_on_request()}


def scaling_rules() -> list[Schema]:
    """Spec-level rules: a CPU utilisation target is a share of the CPU request."""
    return [
        {
            "rule": CPU_RULE,
            "message": "autoscaling.target.cpuUtilization needs resources.requests.cpu "
            "(utilisation is a share of the CPU request)",
            "fieldPath": ".autoscaling.target.cpuUtilization",
        }
    ]
