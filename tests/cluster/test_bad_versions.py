"""A bad new version never takes the old one down: it keeps serving, status names the
reason, and a Warning Event is posted.

Ways a version goes bad: its bytes do not match the declared sha256, are not a TFLite
model, or lack the service's model file; its URL is unreachable; the model does not load,
or its labels file does not match the model. The first three are caught by the operator
before anything is deployed (the labels check too, for a model it can read: unit-tested).
The others are only seen by the pods (a URL source must declare its sha256, so the
operator deploys it even when it cannot reach it itself): the real `mlmodel fetch` /
`mlmodel serve` are run here as local processes to get their real exit code and message,
which are then written into the new pod's status the way the kubelet would (kwok runs no
containers). The server container's terminationMessagePolicy is FallbackToLogsOnError,
so the kubelet's message is the tail of its log.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from operator_fixtures import REPO, Objects, OperatorProcess
from test_operator import (
    MODEL_V2,
    cm_version,
    deployment,
    fail_init,
    mlmodel,
    model_configmap,
    new_pods,
    pinned,
    setup_fruit,
    sha,
)
from tests.support.archives import tar_gz

pytestmark = pytest.mark.cluster
MODELS = REPO / "tests" / "fixtures" / "models"
UNREACHABLE = "https://127.0.0.1:9/fruit-v2.tflite"  # the discard port: connection refused


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Iterator[Objects]:
    yield Objects(kube, namespace, mlmodel_operator)


def mlmodel_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real `mlmodel` command line, as the image's ENTRYPOINT runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mlmodel_server.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def serve_failure(tmp_path: Path, kind: str) -> str:
    """Run `mlmodel serve` on a bad version; return its log as the kubelet would keep it."""
    if kind == "model-does-not-load":
        bad = tmp_path / "model.tflite"
        bad.write_bytes(MODEL_V2)  # a TFL3 header and nothing else
        args = ["--model", str(bad)]
    else:  # a 4-class classifier with a 2-line labels file
        labels = tmp_path / "labels.txt"
        labels.write_text("apple\nbanana\n")
        args = ["--model", str(MODELS / "classifier_uint8.tflite"), "--labels", str(labels)]
    run = mlmodel_cli("serve", *args, "--port", "0")
    assert run.returncode == 1, run
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("mlmodel serve: error: "), run.stderr
    return run.stdout + run.stderr


def crash_loop(objs: Objects, pod: dict[str, Any], log_tail: str) -> None:
    """What the kubelet reports after the server container exited 1 a few times."""
    status = {
        "containerStatuses": [
            {
                "name": "server",
                "image": "registry.invalid/mlmodel:test",
                "imageID": "",
                "ready": False,
                "restartCount": 3,
                "started": False,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "message": log_tail}},
            }
        ]
    }
    objs.patch("Pod", pod["metadata"]["name"], {"status": status}, api="v1", subresource="/status")


def ready(objs: Objects) -> dict[str, Any]:
    return objs.condition("MLModelService", "fruit", "Ready")


def serving_fruit(objs: Objects) -> set[str]:
    """fruit v1 Running; returns the names of its (old) pods."""
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    return {p["metadata"]["name"] for p in objs.list("Pod", selector="app.kubernetes.io/instance=fruit")}


def hold_rollout(objs: Objects) -> None:
    """Keep new pods Pending: kwok would make them Ready at once and end the rollout.

    The pods of the new version then stay unscheduled, as pods stuck on a failing
    container would stay unready; their status is written by the test.
    """
    objs.patch("MLModelService", "fruit", {"spec": {"nodeSelector": {"mlmodel.dev/none": "x"}}})
    objs.wait(lambda: ready(objs).get("reason") == "Unschedulable", "the rollout held")


def publish_v2(objs: Objects, version: dict[str, Any]) -> None:
    versions = [cm_version("1", "fruit-v1"), version]
    objs.patch("ModelPackage", "fruit", {"spec": {"versions": versions}})


def v2_pod(objs: Objects) -> dict[str, Any]:
    """The pod of the template that pins version 2."""
    objs.wait(lambda: pinned(objs, "fruit-mlmodel")[0]["version"] == "2", "version 2 rolled out")
    return objs.wait(lambda: new_pods(objs, "fruit"), "the version 2 pod")[0]  # type: ignore[no-any-return]


def assert_old_version_serves(objs: Objects, old_pods: set[str], reason: str, says: str) -> None:
    """Degraded for `reason`, message containing `says`, old pods Ready, a Warning Event."""
    objs.wait(lambda: ready(objs).get("reason") == reason, f"Ready reason {reason} (now {ready(objs)})")
    assert says in ready(objs)["message"]
    status = objs.status("MLModelService", "fruit")
    assert status["phase"] == "Degraded"
    assert [p["version"] for p in status["servingPackages"]] == ["1"]  # whatever the template says
    assert ready(objs)["message"].startswith("fruit 1 serves; fruit 2")
    assert objs.condition("MLModelService", "fruit", "Available")["status"] == "True"
    pods = {p["metadata"]["name"]: p for p in objs.list("Pod", selector="app.kubernetes.io/instance=fruit")}
    for name in old_pods:
        conds = {c["type"]: c["status"] for c in pods[name]["status"].get("conditions") or []}
        assert conds.get("Ready") == "True", f"old pod {name} no longer Ready"
    assert deployment(objs, "fruit-mlmodel")["status"].get("availableReplicas") == 1
    objs.wait(
        lambda: any(
            e["type"] == "Warning" and e["reason"] == "Degraded" and says in e["message"]
            for e in objs.events("fruit")
        ),
        f"a Warning Event saying {says!r}",
    )


# --- caught by the operator: never deployed ------------------------------------------------


def test_checksum_mismatch_keeps_the_old_version(objs: Objects) -> None:
    old = serving_fruit(objs)
    objs.create(model_configmap("fruit-v2", MODEL_V2))
    publish_v2(objs, cm_version("2", "fruit-v2", sha256=sha(b"other bytes")))
    assert_old_version_serves(objs, old, "ChecksumMismatch", "sha256 mismatch")
    assert pinned(objs, "fruit-mlmodel")[0]["version"] == "1"


@pytest.mark.parametrize(
    "bytes_, reason, says",
    [
        (b"this is a text file, not a model\n" * 10, "NotTFLite", "is not a TFLite flatbuffer"),
        (tar_gz({"other.tflite": MODEL_V2}), "ModelFileMissing", "model.tflite is not in the package"),
    ],
)
def test_a_version_no_server_could_load_is_never_deployed(
    objs: Objects, bytes_: bytes, reason: str, says: str
) -> None:
    old = serving_fruit(objs)
    objs.create(model_configmap("fruit-v2", bytes_))
    publish_v2(objs, cm_version("2", "fruit-v2", sha256=sha(bytes_)))  # the right digest
    assert_old_version_serves(objs, old, reason, says)
    assert pinned(objs, "fruit-mlmodel")[0]["version"] == "1"


# --- only seen by the pods: the rollout fails, the old pods keep serving --------------------


def test_unreachable_url_with_digest_fails_the_init_container(objs: Objects, tmp_path: Path) -> None:
    old = serving_fruit(objs)
    hold_rollout(objs)
    digest = sha(MODEL_V2)
    publish_v2(objs, {"version": "2", "source": {"url": UNREACHABLE}, "sha256": digest})
    pod = v2_pod(objs)
    term = tmp_path / "termination-log"
    args = ["--url", UNREACHABLE, "--sha256", digest, "--dest", str(tmp_path / "pkg")]
    run = mlmodel_cli("fetch", *args, "--summary-to", str(term))
    assert run.returncode == 1
    message = term.read_text()  # {"reason": "FetchUnreachable", "error": "GET https://...: [Errno 111] ..."}
    assert json.loads(message)["reason"] == "FetchUnreachable"
    fail_init(objs, pod, message)  # the termination message as the kubelet reports it
    assert_old_version_serves(objs, old, "FetchUnreachable", "Connection refused")


@pytest.mark.parametrize("kind", ["model-does-not-load", "labels-do-not-match"])
def test_server_that_exits_on_load_keeps_the_old_version(objs: Objects, tmp_path: Path, kind: str) -> None:
    log_tail = serve_failure(tmp_path, kind)
    error_line = log_tail.strip().splitlines()[-1]
    old = serving_fruit(objs)
    hold_rollout(objs)
    objs.create(model_configmap("fruit-v2", MODEL_V2))
    publish_v2(objs, cm_version("2", "fruit-v2"))
    crash_loop(objs, v2_pod(objs), log_tail)
    assert_old_version_serves(objs, old, "CrashLoopBackOff", error_line)
    server = deployment(objs, "fruit-mlmodel")["spec"]["template"]["spec"]["containers"][0]
    assert server["terminationMessagePolicy"] == "FallbackToLogsOnError"
