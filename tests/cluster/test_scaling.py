"""Scaling with demand on the local control plane (kwok pods): idle stop read from the pods'
metrics, an owned HorizontalPodAutoscaler, and the bad specs the API server refuses.

kwok runs no server, so the pods' /metrics come from the session's fake (PodMetrics, one
exposition text per namespace); the operator's clock is moved instead of waiting.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from operator_fixtures import Objects, OperatorProcess
from test_operator import deployment, mlmodel, setup_fruit
from test_operator_crds import dry_run, mlms

from localcluster import LocalCluster
from mlmodel_operator.clock import format_time, parse_time

pytestmark = pytest.mark.cluster
CPU = {"minReplicas": 2, "maxReplicas": 4, "target": {"cpuUtilization": 50}}
REQUESTS = {"requests": {"cpu": "100m"}}

REFUSED = {
    "idle-short": (mlms(idleStop="30s"), "idleStop must be a duration between 1m and 7d"),
    "idle-garbage": (mlms(idleStop="soon"), "spec.idleStop"),
    "min-over-max": (
        mlms(autoscaling={**CPU, "minReplicas": 5}, resources=REQUESTS),
        "spec.autoscaling.minReplicas: Invalid value: minReplicas must not exceed maxReplicas",
    ),
    "target-zero": (
        mlms(autoscaling={**CPU, "target": {"cpuUtilization": 0}}, resources=REQUESTS),
        "spec.autoscaling.target.cpuUtilization",
    ),
    "in-flight-zero": (
        mlms(autoscaling={"maxReplicas": 2, "target": {"requestsInFlight": 0}}),
        "spec.autoscaling.target.requestsInFlight",
    ),
    "two-targets": (
        mlms(
            autoscaling={**CPU, "target": {"cpuUtilization": 50, "requestsInFlight": 2}}, resources=REQUESTS
        ),
        "set exactly one of cpuUtilization or requestsInFlight",
    ),
    "no-target": (mlms(autoscaling={"maxReplicas": 2}), "spec.autoscaling.target: Required value"),
    "cpu-without-request": (
        mlms(autoscaling=CPU),
        "spec.autoscaling.target.cpuUtilization: Invalid value: autoscaling.target.cpuUtilization "
        "needs resources.requests.cpu",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_scaling_specs_are_refused_naming_the_field(
    mlmodel_crds: LocalCluster, namespace: str, case: str
) -> None:
    obj, expected = REFUSED[case]
    error = dry_run(mlmodel_crds, namespace, obj)
    assert expected in error, error


def test_good_scaling_specs_are_accepted(mlmodel_crds: LocalCluster, namespace: str) -> None:
    vision = {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "VisionService",
        "metadata": {"name": "v"},
        "spec": {"mlmodelName": "svc", "idleStop": "1d", "autoscaling": CPU, "resources": REQUESTS},
    }
    in_flight = {"maxReplicas": 8, "target": {"requestsInFlight": 4}, "scaleDownDelaySeconds": 0}
    for obj in (mlms(idleStop="30m", autoscaling=in_flight, replicas=3), vision):
        assert dry_run(mlmodel_crds, namespace, obj) == ""
    cpu_without = {**vision, "spec": {**vision["spec"], "resources": {}}}
    assert "needs resources.requests.cpu" in dry_run(mlmodel_crds, namespace, cpu_without)


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Iterator[Objects]:
    yield Objects(kube, namespace, mlmodel_operator)
    mlmodel_operator.reset_clock()
    mlmodel_operator.pod_metrics.texts.pop(namespace, None)  # type: ignore[union-attr]


def exposition(at: float) -> str:
    return f"mlmodel_last_request_timestamp_seconds {at}\n"


def operator_now(op: OperatorProcess) -> float:
    return time.time() + op.offset()


def test_idle_stop_reads_the_pods_and_stops_only_when_they_say_so(
    objs: Objects, namespace: str, mlmodel_operator: OperatorProcess
) -> None:
    texts = mlmodel_operator.pod_metrics.texts  # type: ignore[union-attr]
    setup_fruit(objs, mlmodel("fruit", idleStop="1m"))
    status = objs.wait_phase("MLModelService", "fruit", "Running")
    started = parse_time(status["runningSince"])
    assert started and status["idleStopDueTime"] == format_time(started + timedelta(minutes=1))
    # Due, but the pods' metrics cannot be read: it waits, and says why.
    mlmodel_operator.advance_clock(70)
    deferred = objs.wait(lambda: objs.status("MLModelService", "fruit").get("idleStopDeferred"), "deferred")
    assert "a pod's last request is unknown: fruit-mlmodel-" in deferred and "404" in deferred
    assert objs.status("MLModelService", "fruit")["phase"] == "Running"
    # A request 40 s after the start moves the due time on.
    request = started.timestamp() + 40
    texts[namespace] = exposition(request)
    status = objs.wait(
        lambda: (s := objs.status("MLModelService", "fruit")).get("lastRequestTime") and s, "lastRequestTime"
    )
    assert parse_time(status["lastRequestTime"]) == parse_time(format_time(started + timedelta(seconds=40)))
    assert status["idleStopDueTime"] == format_time(started + timedelta(seconds=100))
    assert "idleStopDeferred" not in status and status["phase"] == "Running"
    # A minute without requests after it: stopped, like auto-stop.
    mlmodel_operator.advance_clock(60)
    status = objs.wait_phase("MLModelService", "fruit", "Stopped")
    assert status["stopReason"] == "IdleStop" and "idleStopDueTime" not in status
    assert status["lastRequestTime"] == format_time(started + timedelta(seconds=40))
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 0, "scale to 0")
    # The Event follows the status write that the waits above saw: wait for it too.
    objs.wait(lambda: "IdleStopped" in {e["reason"] for e in objs.events("fruit")}, "the IdleStopped Event")
    restart = format_time(parse_time(status["stopTime"]) + timedelta(seconds=1))
    objs.patch("MLModelService", "fruit", {"spec": {"restartedAt": restart}})
    status = objs.wait_phase("MLModelService", "fruit", "Running")
    assert parse_time(status["idleStopDueTime"]) > parse_time(restart)


def hpa(objs: Objects) -> dict[str, Any] | None:
    return objs.get("HorizontalPodAutoscaler", "fruit-mlmodel", api="autoscaling/v2")


def managers(objs: Objects) -> set[str]:
    fields = deployment(objs, "fruit-mlmodel")["metadata"].get("managedFields") or []
    return {f["manager"] for f in fields if "f:replicas" in str(f.get("fieldsV1"))}


def test_autoscaling_owns_an_hpa_and_the_replicas_move_only_as_they_should(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit", replicas=3, resources=REQUESTS))
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.patch("MLModelService", "fruit", {"spec": {"autoscaling": CPU}})
    made = objs.wait(lambda: hpa(objs), "the HPA")
    assert made["spec"]["scaleTargetRef"]["name"] == "fruit-mlmodel" and made["spec"]["minReplicas"] == 2
    assert made["metadata"]["ownerReferences"][0]["name"] == "fruit"
    # No metrics-server here: the HPA cannot read CPU, and status passes its reason on.
    cond = objs.wait(
        lambda: (
            (c := objs.condition("MLModelService", "fruit", "Autoscaling")).get("reason")
            not in (None, "Pending")
            and c
        ),
        "Autoscaling condition",
    )
    assert cond["status"] == "False" and "cpu" in cond["message"], cond
    assert objs.status("MLModelService", "fruit")["autoscaling"]["target"] == "cpu 50%"
    # Handing the replicas over did not scale the running service down to one pod.
    time.sleep(3)
    assert deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 3
    assert "mlmodel-operator-scale" in managers(objs)
    objs.patch("MLModelService", "fruit", {"spec": {"stopped": True}})
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 0, "stopped at 0")
    assert objs.condition("MLModelService", "fruit", "Autoscaling")["reason"] == "Stopped"
    objs.patch("MLModelService", "fruit", {"spec": {"stopped": False}})
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 2, "back at minReplicas")
    objs.patch("MLModelService", "fruit", {"spec": {"autoscaling": None}})
    objs.wait(lambda: hpa(objs) is None, "the HPA deleted")
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 3, "spec.replicas again")
    status = objs.wait(
        lambda: "autoscaling" not in (s := objs.status("MLModelService", "fruit")) and s, "status cleared"
    )
    assert "Autoscaling" not in {c["type"] for c in status["conditions"]}
