"""InferenceVerified: status says which version answered its self-test, and when; it never
claims so for pods no container runtime ran (kwok's); a self-test that refuses a new
version is named as such while the old one serves."""

from __future__ import annotations

import json
from typing import Any

from helpers import deployment, inputs, url_pkg

from mlmodel_operator.builders.pod import serve_args
from mlmodel_operator.packages import Resolution, ResolvedPackage
from mlmodel_operator.status.runstate import RunState
from mlmodel_operator.status.serving import Observed, compose
from mlmodel_operator.status.workload import assess

OLD, NEW = "hash-v1", "hash-v2"
SELF_TEST_ERROR = (
    "mlmodel serve: error: self-test (output_example): output 'probabilities' differs from the "
    "output_example by 0.9925 at [0, 1] (answered 0.00246622, expected 0.994945; tolerance 0.001)"
)
REFUSED = {"exitCode": 1, "reason": "Error", "message": f"INFO: loading\n{SELF_TEST_ERROR}\n"}


def pin(version: str) -> ResolvedPackage:
    return ResolvedPackage("fruit_classifier", "fruit", "latest", version, version * 64)


def pod(
    hash_: str, version: str, *, ready_at: str | None, ran: bool = True, node: str = "node-a", **server: Any
) -> dict[str, Any]:
    """A pod of `version`; Ready since `ready_at` (None: not Ready); `ran`: by a container runtime."""
    packages = json.dumps([{"name": "fruit_classifier", "version": version, "sha256": version * 64}])
    status = {"name": "server", "ready": ready_at is not None, "state": {"running": {}}, **server}
    if ran:
        status["containerID"] = f"containerd://{version}{node}"
    ready = {"type": "Ready", "status": "True" if ready_at else "False", "lastTransitionTime": ready_at}
    return {
        "metadata": {"annotations": {"mlmodel.dev/template-hash": hash_, "mlmodel.dev/packages": packages}},
        "spec": {"nodeName": node},
        "status": {"conditions": [ready], "containerStatuses": [status]},
    }


def status_of(pods: list[dict[str, Any]], available: int = 1, stopped: bool = False) -> dict[str, Any]:
    resolution = Resolution(packages=(pin("2"),))
    replicas = max(available, 1)
    dep = deployment(
        replicas=replicas, available=available, updated=replicas, total=len(pods), generation=2, observed=2
    )
    observed = Observed(
        generation=2,
        now="2026-11-30T10:00:00Z",
        run=RunState(stopped=stopped),
        resolution=resolution,
        effective=resolution,
        workload=assess(dep, pods, NEW, replicas),
        has_deployment=True,
        endpoint="http://fruit-mlmodel.ns.svc:8080",
        model_package="fruit_classifier",
    )
    return compose(observed, {})


def condition(status: dict[str, Any], kind: str) -> tuple[str, str, str]:
    found = next(c for c in status["conditions"] if c["type"] == kind)
    return found["status"], found["reason"], found["message"]


def test_ready_pods_that_ran_say_which_version_answered_and_when() -> None:
    status = status_of(
        [
            pod(NEW, "2", ready_at="2026-11-30T09:58:00Z", node="node-a"),
            pod(NEW, "2", ready_at="2026-11-30T09:59:30Z", node="node-b"),
        ],
        available=2,
    )
    assert condition(status, "InferenceVerified") == (
        "True",
        "SelfTestPassed",
        "fruit 2: 2 Ready pod(s) answered their self-test inference, the latest at 2026-11-30T09:59:30Z",
    )
    assert condition(status, "Ready") == ("True", "Ready", "fruit 2 serves")


def test_kwok_pods_never_claim_an_inference_and_ready_says_so() -> None:
    status = status_of([pod(NEW, "2", ready_at="2026-11-30T09:58:00Z", ran=False, node="kwok-node-0")])
    unknown = (
        "no pod ran a self-test (the Ready pods on kwok-node-0 ran no container: a simulated node, "
        "such as kwok's)"
    )
    assert condition(status, "InferenceVerified") == ("Unknown", "NoSelfTestRan", unknown)
    assert condition(status, "Ready") == ("True", "Ready", f"fruit 2 serves; {unknown}")
    assert status["phase"] == "Running"


def test_a_wrong_model_refused_by_its_self_test_is_named_while_the_old_one_serves() -> None:
    failing = pod(NEW, "2", ready_at=None, state={"terminated": REFUSED}, lastState={"terminated": REFUSED})
    status = status_of([pod(OLD, "1", ready_at="2026-11-30T09:00:00Z"), failing])
    said = f"container server: SelfTestFailed: {SELF_TEST_ERROR}"
    assert condition(status, "Progressing") == ("False", "SelfTestFailed", said)
    assert condition(status, "Ready") == (
        "True",
        "SelfTestFailed",
        f"fruit 1 serves; fruit 2 is failing: {said}",
    )
    assert condition(status, "InferenceVerified")[:2] == ("True", "SelfTestPassed")  # fruit 1's
    assert condition(status, "InferenceVerified")[2].startswith("fruit 1: 1 Ready pod(s)")
    assert status["phase"] == "Degraded"
    assert [p["version"] for p in status["servingPackages"]] == ["1"]


def test_with_nothing_serving_a_failed_self_test_is_why_nothing_is_verified() -> None:
    failing = pod(NEW, "2", ready_at=None, state={"terminated": REFUSED})
    status = status_of([failing], available=0)
    said = f"container server: SelfTestFailed: {SELF_TEST_ERROR}"
    assert condition(status, "InferenceVerified") == ("False", "SelfTestFailed", said)
    assert condition(status, "Ready") == ("False", "SelfTestFailed", said)
    assert status["phase"] == "Failed"


def test_pods_not_listed_yet_do_not_flip_ready() -> None:
    status = status_of([], available=1)
    assert condition(status, "InferenceVerified")[:2] == ("Unknown", "PodsNotSeen")
    assert condition(status, "Ready")[0] == "True"


def test_a_stopped_service_has_nothing_verified() -> None:
    status = status_of([], available=0, stopped=True)
    assert condition(status, "InferenceVerified") == ("False", "Stopped", "scaled to zero")


def test_pods_tell_the_server_which_package_holds_the_model() -> None:
    args = serve_args(inputs(packages=(url_pkg(),)))
    at = args.index("--package-root")
    assert args[at + 1] == "/models/fruit_classifier"
    assert args[args.index("--model") + 1] == "/models/fruit_classifier/fruit_classifier.tflite"
