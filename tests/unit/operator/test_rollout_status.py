"""A stuck rollout as the real node showed it: v2's pod crash-loops, v1's keeps serving.

Status must say v1 serves and v2 is wanted, stay Degraded with the pod's own message in
every phase of the kubelet's back-off, and never claim that all is well.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from helpers import deployment

from mlmodel_operator.packages import Resolution, ResolvedPackage
from mlmodel_operator.status.conditions import without_times
from mlmodel_operator.status.events import transition_events
from mlmodel_operator.status.runstate import RunState
from mlmodel_operator.status.serving import Observed, compose
from mlmodel_operator.status.workload import assess, pod_failure

OLD, NEW = "hash-v1", "hash-v2"
SERVER_ERROR = (
    "mlmodel serve: error: model file /models/fruit/model.tflite "
    + "is not a TFLite flatbuffer (no TFL3 identifier)"
)
LOG_TAIL = f"INFO:     Started server process [1]\n{SERVER_ERROR}\n"
CRASHED = {"exitCode": 1, "reason": "Error", "message": LOG_TAIL}
FETCH_ERROR = "model file model.tflite is not a TFLite flatbuffer (no TFL3 identifier)"
FETCH_FAILED = {"exitCode": 1, "reason": "Error", "message": json.dumps({"error": FETCH_ERROR})}


# A server container a container runtime started (kwok's have no ID).
RUNNING = {"name": "server", "ready": True, "containerID": "containerd://1", "state": {"running": {}}}


def pin(version: str) -> ResolvedPackage:
    return ResolvedPackage("fruit_classifier", "fruit", "latest", version, version * 64)


def pod(
    hash_: str, version: str, *, ready: bool, containers: list | None = None, init: list | None = None
) -> dict[str, Any]:
    packages = json.dumps([{"name": "fruit_classifier", "version": version, "sha256": version * 64}])
    return {
        "metadata": {"annotations": {"mlmodel.dev/template-hash": hash_, "mlmodel.dev/packages": packages}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "initContainerStatuses": init or [],
            "containerStatuses": containers or ([RUNNING] if ready else []),
        },
    }


def server(state: dict[str, Any], restarts: int, last: dict[str, Any] | None = None) -> dict[str, Any]:
    status = {"name": "server", "ready": False, "restartCount": restarts, "state": state}
    return {**status, "lastState": {"terminated": last}} if last else status


# Every phase the kubelet cycles a crash-looping server container through.
SERVER_BACKOFF = {
    "first exit": server({"terminated": CRASHED}, 0),
    "back-off": server({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}, 3, CRASHED),
    "restarted": server({"running": {"startedAt": "T"}}, 3, CRASHED),
    "exited again": server({"terminated": CRASHED}, 3, CRASHED),
}
# ... and an init container whose `mlmodel fetch` refuses the package.
INIT_BACKOFF = {
    "first exit": {
        "name": "fetch-fruit-classifier",
        "restartCount": 0,
        "state": {"terminated": FETCH_FAILED},
    },
    "back-off": {
        "name": "fetch-fruit-classifier",
        "restartCount": 2,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s"}},
        "lastState": {"terminated": FETCH_FAILED},
    },
    "restarted": {
        "name": "fetch-fruit-classifier",
        "restartCount": 2,
        "state": {"running": {"startedAt": "T"}},
        "lastState": {"terminated": FETCH_FAILED},
    },
}
WAITING_SERVER = server({"waiting": {"reason": "PodInitializing"}}, 0)


def observe(
    pods: list[dict[str, Any]], dep: dict[str, Any], desired: str = NEW, version: str = "2"
) -> Observed:
    resolution = Resolution(packages=(pin(version),))
    return Observed(
        generation=2,
        now="T",
        run=RunState(stopped=False),
        resolution=resolution,
        effective=resolution,
        workload=assess(dep, pods, desired, 1),
        has_deployment=True,
        endpoint="http://fruit-mlmodel.ns.svc:8080",
        model_package="fruit_classifier",
    )


STUCK = {"replicas": 1, "available": 1, "updated": 1, "total": 2, "generation": 2, "observed": 2}


def stuck(new_pod: dict[str, Any]) -> dict[str, Any]:
    """v1's pod Ready, v2's pod as given: the status the operator would write."""
    return compose(observe([pod(OLD, "1", ready=True), new_pod], deployment(**STUCK)), {})


def ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    return {**status, "conditions": without_times(status["conditions"])}


def test_a_crash_looping_v2_with_v1_serving_says_v1_serves_in_every_backoff_phase() -> None:
    statuses = {
        phase: stuck(pod(NEW, "2", ready=False, containers=[container]))
        for phase, container in SERVER_BACKOFF.items()
    }
    first = statuses["back-off"]
    assert [p["version"] for p in first["servingPackages"]] == ["1"]
    assert first["servingPackages"][0]["readyReplicas"] == 1
    assert [p["version"] for p in first["resolvedPackages"]] == ["2"]
    assert first["phase"] == "Degraded"
    assert (ready(first)["status"], ready(first)["reason"]) == ("True", "CrashLoopBackOff")
    assert (
        ready(first)["message"]
        == f"fruit 1 serves; fruit 2 is failing: container server: CrashLoopBackOff: {SERVER_ERROR}"
    )
    progressing = next(c for c in first["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "CrashLoopBackOff")
    for phase, status in statuses.items():
        assert comparable(status) == comparable(first), phase


def test_a_fetch_that_refuses_the_package_gives_its_message_in_every_backoff_phase() -> None:
    statuses = [
        stuck(pod(NEW, "2", ready=False, init=[init], containers=[WAITING_SERVER]))
        for init in INIT_BACKOFF.values()
    ]
    assert all(comparable(s) == comparable(statuses[0]) for s in statuses)
    assert (statuses[0]["phase"], ready(statuses[0])["reason"]) == ("Degraded", "InitContainerFailed")
    assert ready(statuses[0])["message"] == (
        f"fruit 1 serves; fruit 2 is failing: init container fetch-fruit-classifier failed: {FETCH_ERROR}"
    )


def test_the_backoff_cycle_posts_one_warning_and_never_claims_all_is_well() -> None:
    old: dict[str, Any] = {}
    posted: list[tuple[str, str, str]] = []
    before = compose(observe([pod(OLD, "1", ready=True)], deployment(), desired=OLD, version="1"), {})
    posted += transition_events(old, before)
    old = before
    rollout = [pod(NEW, "2", ready=False, containers=[WAITING_SERVER])]
    backoff = [[pod(NEW, "2", ready=False, containers=[c])] for c in SERVER_BACKOFF.values()]
    for new_pods in [rollout, *backoff, *backoff[1:], *backoff[1:]]:
        status = compose(observe([pod(OLD, "1", ready=True), *new_pods], deployment(**STUCK)), old)
        posted += transition_events(old, {**old, **status})
        old = {**old, **status}
    phases = [(kind, reason) for kind, reason, _ in posted if reason in ("Running", "Deploying", "Degraded")]
    assert phases == [("Normal", "Running"), ("Normal", "Deploying"), ("Warning", "Degraded")]
    assert not any("all conditions are satisfied" in message for _, _, message in posted)
    deploying = next(message for _, reason, message in posted if reason == "Deploying")
    assert deploying == "fruit 1 serves; rolling out fruit 2"


def test_once_v2_is_ready_it_serves_and_the_service_runs() -> None:
    status = compose(observe([pod(NEW, "2", ready=True)], deployment()), {})
    assert status["phase"] == "Running"
    assert [p["version"] for p in status["servingPackages"]] == ["2"]
    assert status["servingPackages"][0]["package"] == "fruit"
    assert (ready(status)["status"], ready(status)["message"]) == ("True", "fruit 2 serves")


def test_a_crash_loop_with_nothing_serving_is_failed_and_not_ready() -> None:
    crashing = pod(NEW, "2", ready=False, containers=[SERVER_BACKOFF["restarted"]])
    status = compose(observe([crashing], deployment(available=0)), {})
    assert (status["phase"], status["servingPackages"]) == ("Failed", [])
    assert (ready(status)["status"], ready(status)["reason"]) == ("False", "CrashLoopBackOff")


def test_a_refused_version_keeps_v1_and_says_why() -> None:
    refused = Resolution(reason="NotTFLite", message="fruit 2: model.tflite is not a TFLite flatbuffer")
    obs = observe([pod(OLD, "1", ready=True)], deployment(), desired=OLD, version="1")
    status = compose(replace(obs, resolution=refused), {})
    assert (status["phase"], [p["version"] for p in status["servingPackages"]]) == ("Degraded", ["1"])
    assert [p["version"] for p in status["resolvedPackages"]] == ["1"]  # the template is not moved
    assert (ready(status)["status"], ready(status)["reason"]) == ("True", "NotTFLite")
    assert ready(status)["message"] == "fruit 1 serves; fruit 2: model.tflite is not a TFLite flatbuffer"


@pytest.mark.parametrize(
    "container",
    [
        server({"running": {"startedAt": "T"}}, 1, {"exitCode": 137, "reason": "OOMKilled"}),
        server({"waiting": {"reason": "CrashLoopBackOff"}}, 1, {"exitCode": 137, "reason": "OOMKilled"}),
    ],
)
def test_a_crash_without_a_message_is_named_by_its_reason(container: dict[str, Any]) -> None:
    assert pod_failure(pod(NEW, "2", ready=False, containers=[container])) == (
        "OOMKilled",
        "container server: OOMKilled: killed at its memory limit; the model needs a higher "
        "resources.limits.memory",
    )


def test_a_pod_that_recovered_is_not_failing() -> None:
    fetched_on_retry = {**INIT_BACKOFF["back-off"], "state": {"terminated": {"exitCode": 0, "message": "{}"}}}
    assert (
        pod_failure(pod(NEW, "2", ready=False, init=[fetched_on_retry], containers=[WAITING_SERVER])) is None
    )
    assert pod_failure(pod(NEW, "2", ready=True, containers=[SERVER_BACKOFF["restarted"]])) is None


def test_image_pull_retries_keep_one_reason() -> None:
    pulling = [server({"waiting": {"reason": r}}, 0) for r in ("ErrImagePull", "ImagePullBackOff")]
    failures = [pod_failure(pod(NEW, "2", ready=False, containers=[c])) for c in pulling]
    assert [f and f[0] for f in failures] == ["ImagePullBackOff", "ImagePullBackOff"]


def test_an_image_that_may_not_be_pulled_and_is_absent_is_a_failure() -> None:
    """imagePullPolicy Never and the image not on the node: the kubelet waits forever."""
    absent = server({"waiting": {"reason": "ErrImageNeverPull", "message": "image not present"}}, 0)
    failure = pod_failure(pod(NEW, "2", ready=False, containers=[absent]))
    assert failure and failure[0] == "ErrImageNeverPull"
