"""spec.autoscaling without a cluster: the HPA manifest, who sets the replicas, and what
status tells a user (why spec.replicas is ignored, why the HPA cannot scale)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlmodel_operator.builders.autoscaler import build_autoscaler
from mlmodel_operator.handlers import autoscaling
from mlmodel_operator.status import autoscaling as autoscaling_status
from mlmodel_operator.status.runstate import RunState

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RUNNING, STOPPED = RunState(stopped=False, running_since=T0), RunState(stopped=True, stop_time=T0)


def owner(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": "fruit", "namespace": "ns", "uid": "u1"},
        "spec": spec,
    }


CPU = {"minReplicas": 2, "maxReplicas": 5, "target": {"cpuUtilization": 70}}
IN_FLIGHT = {"maxReplicas": 4, "target": {"requestsInFlight": 3}, "scaleDownDelaySeconds": 30}


def test_cpu_target_is_a_resource_metric_on_the_deployment() -> None:
    hpa = build_autoscaler(owner(autoscaling=CPU), "mlmodel")
    assert hpa is not None and hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["metadata"]["name"] == "fruit-mlmodel"
    assert hpa["metadata"]["ownerReferences"][0]["uid"] == "u1"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "fruit-mlmodel",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        }
    ]
    assert hpa["spec"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 300}}


def test_requests_in_flight_is_a_pods_metric_named_as_the_pods_export_it() -> None:
    hpa = build_autoscaler(owner(autoscaling=IN_FLIGHT), "vision")
    assert hpa is not None and hpa["metadata"]["name"] == "fruit-vision"
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "mlmodel_inference_requests_in_flight"},
                "target": {"type": "AverageValue", "averageValue": "3"},
            },
        }
    ]
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 30
    assert build_autoscaler(owner(replicas=3), "mlmodel") is None


def test_who_sets_the_replicas() -> None:
    assert autoscaling.replicas({"replicas": 3}, RUNNING) == 3
    assert autoscaling.replicas({"replicas": 3, "autoscaling": CPU}, RUNNING) is None
    assert autoscaling.replicas({"autoscaling": CPU}, STOPPED) == 0
    auto = owner(autoscaling=CPU)
    assert autoscaling.desired(None, {"spec": {"replicas": 4}}, auto) == 4
    assert autoscaling.desired(None, {"spec": {"replicas": 0}}, auto) == 2
    assert autoscaling.desired(3, None, owner()) == 3


def hpa_with(**status: Any) -> dict[str, Any]:
    made = build_autoscaler(owner(autoscaling=CPU), "mlmodel")
    assert made is not None
    return {**made, "status": status}


def test_status_says_spec_replicas_is_ignored() -> None:
    hpa = hpa_with(
        currentReplicas=3,
        desiredReplicas=3,
        lastScaleTime="2026-01-01T00:05:00Z",
        conditions=[{"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound"}],
    )
    cond = autoscaling_status.condition(hpa, stopped=False, replicas=1)
    assert (cond.status, cond.reason) == ("True", "ValidMetricFound")
    assert cond.message == (
        "HorizontalPodAutoscaler fruit-mlmodel sets the replicas (2-5 at cpu 70%): 3 now; "
        "spec.replicas (1) is ignored"
    )
    assert autoscaling_status.fields(hpa) == {
        "horizontalPodAutoscaler": "fruit-mlmodel",
        "minReplicas": 2,
        "maxReplicas": 5,
        "currentReplicas": 3,
        "desiredReplicas": 3,
        "target": "cpu 70%",
        "lastScaleTime": "2026-01-01T00:05:00Z",
    }


def test_an_hpa_without_metrics_says_why() -> None:
    message = "the HPA was unable to compute the replica count: unable to get metrics for resource cpu"
    hpa = hpa_with(
        conditions=[
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "FailedGetResourceMetric",
                "message": message,
            }
        ]
    )
    cond = autoscaling_status.condition(hpa, stopped=False, replicas=1)
    assert (cond.status, cond.reason, cond.message) == ("False", "FailedGetResourceMetric", message)


def test_stopped_and_pending() -> None:
    assert autoscaling_status.condition(hpa_with(), stopped=True, replicas=1).reason == "Stopped"
    assert autoscaling_status.condition(None, stopped=False, replicas=1).status == "Unknown"
    assert autoscaling_status.condition(hpa_with(), stopped=False, replicas=1).status == "Unknown"
    assert autoscaling_status.fields(None) is None


def test_with_status_adds_and_removes() -> None:
    base = {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}
    out = autoscaling.with_status(
        base, owner(autoscaling=CPU), hpa_with(), RUNNING, "2026-01-01T00:00:00Z", []
    )
    assert [c["type"] for c in out["conditions"]] == ["Ready", "Autoscaling"]
    assert out["autoscaling"]["horizontalPodAutoscaler"] == "fruit-mlmodel"
    gone = autoscaling.with_status(base, owner(), None, RUNNING, "2026-01-01T00:00:00Z", [])
    assert gone["autoscaling"] is None and gone["conditions"] == base["conditions"]
