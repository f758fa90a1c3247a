"""The operator against a real apiserver, controller-manager, scheduler and kwok.

kwok runs no containers: pods turn Running and Ready, init containers "succeed"
instantly. Failure paths are simulated by patching pod status the way the kubelet
would, and time is moved through the operator's injectable clock.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from operator_fixtures import Objects, OperatorProcess

from mlmodel_operator.clock import format_time, parse_time

pytestmark = pytest.mark.cluster
MODEL_V1 = b"\x1c\x00\x00\x00TFL3 fruit model v1"
MODEL_V2 = b"\x1c\x00\x00\x00TFL3 fruit model v2"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Iterator[Objects]:
    yield Objects(kube, namespace, mlmodel_operator)
    mlmodel_operator.reset_clock()


def model_configmap(name: str, data: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "binaryData": {"model.tflite": base64.b64encode(data).decode()},
    }


def cm_version(version: str, cm: str, **extra: Any) -> dict[str, Any]:
    return {"version": version, "source": {"configMap": {"name": cm, "key": "model.tflite"}}, **extra}


def package(name: str, *versions: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "ModelPackage",
        "metadata": {"name": name},
        "spec": {"versions": list(versions)},
    }


def mlmodel(name: str, pkg: str = "fruit", version: str = "latest", **spec: Any) -> dict:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": name},
        "spec": {
            "attributes": {"model_path": "${packages.fruit_classifier}/model.tflite", "num_threads": 1},
            "packages": [{"name": "fruit_classifier", "package": pkg, "version": version}],
            **spec,
        },
    }


def vision(name: str, model: str, **attrs: Any) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "VisionService",
        "metadata": {"name": name},
        "spec": {"mlmodelName": model, "attributes": attrs},
    }


def deployment(objs: Objects, name: str) -> dict[str, Any]:
    return objs.get("Deployment", name, api="apps/v1") or {}


def pinned(objs: Objects, name: str) -> list[dict[str, Any]]:
    notes = deployment(objs, name)["spec"]["template"]["metadata"]["annotations"]
    return json.loads(notes["mlmodel.dev/packages"])


def setup_fruit(objs: Objects, *services: dict[str, Any]) -> None:
    objs.create(model_configmap("fruit-v1", MODEL_V1))
    objs.create(package("fruit", cm_version("1", "fruit-v1")))
    for service in services:
        objs.create(service)


def test_liveness_endpoint(mlmodel_operator: OperatorProcess) -> None:
    assert mlmodel_operator.healthy()


def reconciles(text: str, kind: str, result: str) -> float:
    """mlmodel_operator_reconcile_total{kind,result} from an exposition text (0 if absent)."""
    line = f'mlmodel_operator_reconcile_total{{kind="{kind}",result="{result}"}} '
    return sum(float(row[len(line) :]) for row in text.splitlines() if row.startswith(line))


def test_metrics_count_reconcile_passes(objs: Objects, mlmodel_operator: OperatorProcess) -> None:
    before = reconciles(mlmodel_operator.metrics(), "MLModelService", "success")
    setup_fruit(objs, mlmodel("counted"))
    objs.wait_phase("MLModelService", "counted", "Running")
    text = mlmodel_operator.metrics()
    assert reconciles(text, "MLModelService", "success") > before
    assert "mlmodel_operator_reconcile_duration_seconds_bucket" in text
    assert "mlmodel_operator_workqueue_depth " in text


def test_no_finalizer_and_the_one_of_earlier_versions_is_released(objs: Objects) -> None:
    """The work queue resyncs, so no kopf timer needs a finalizer: a new service gets none,
    and kopf removes the one earlier versions had it add; the deletion then goes through."""
    earlier = mlmodel("earlier")
    earlier["metadata"]["finalizers"] = ["mlmodel.dev/kopf-finalizer"]
    setup_fruit(objs, mlmodel("new"), earlier)
    objs.wait_phase("MLModelService", "new", "Running")
    assert not (objs.get("MLModelService", "new") or {})["metadata"].get("finalizers")
    assert "Deploying" not in {e["reason"] for e in objs.events("new")}  # only a rollout says so
    objs.wait(
        lambda: not (objs.get("MLModelService", "earlier") or {})["metadata"].get("finalizers"),
        "the earlier finalizer removed",
    )
    objs.delete("MLModelService", "earlier")
    objs.wait(lambda: objs.get("MLModelService", "earlier") is None, "the service gone")


def test_children_owner_references_and_ready(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"), vision("fruitvis", "fruit", default_minimum_confidence=0.4))
    status = objs.wait_phase("MLModelService", "fruit", "Running")
    assert objs.condition("MLModelService", "fruit", "Ready")["status"] == "True"
    # kwok ran no server, so nothing answered a self-test: status says so instead of guessing.
    verified = objs.condition("MLModelService", "fruit", "InferenceVerified")
    assert (verified["status"], verified["reason"]) == ("Unknown", "NoSelfTestRan")
    assert verified["message"].startswith("no pod ran a self-test (the Ready pods on kwok-node-")
    ready_message = objs.condition("MLModelService", "fruit", "Ready")["message"]
    assert ready_message == f"fruit 1 serves; {verified['message']}"
    assert status["endpoint"] == f"http://fruit-mlmodel.{objs.ns}.svc:8080"
    assert status["resolvedPackages"][0]["sha256"] == sha(MODEL_V1)
    assert objs.status("ModelPackage", "fruit")["latestVersion"] == "1"
    assert objs.condition("ModelPackage", "fruit", "Verified")["status"] == "True"
    objs.wait_phase("VisionService", "fruitvis", "Running")
    assert objs.condition("VisionService", "fruitvis", "InferenceVerified")["reason"] == "NoSelfTestRan"
    for kind, name, owner_kind, owner in (
        ("Deployment", "fruit-mlmodel", "MLModelService", "fruit"),
        ("Service", "fruit-mlmodel", "MLModelService", "fruit"),
        ("Deployment", "fruitvis-vision", "VisionService", "fruitvis"),
        ("Service", "fruitvis-vision", "VisionService", "fruitvis"),
        ("ConfigMap", "fruitvis-vision", "VisionService", "fruitvis"),
    ):
        child = objs.get(kind, name, api="apps/v1" if kind == "Deployment" else "v1")
        assert child is not None, f"{kind}/{name} missing"
        ref = child["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["controller"]) == (owner_kind, owner, True)
        assert child["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlmodel-operator"
    config = json.loads(objs.get("ConfigMap", "fruitvis-vision", api="v1")["data"]["vision.json"])
    assert config == {"default_minimum_confidence": 0.4}
    args = deployment(objs, "fruitvis-vision")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--vision-name") + 1] == "fruitvis"
    running = [e["message"] for e in objs.events("fruit") if e["reason"] == "Running"]
    assert running and running[0].startswith("fruit 1 serves"), running  # names the version it runs


def test_vision_waits_for_its_mlmodel_service(objs: Objects) -> None:
    objs.create(vision("lonely", "missing"))
    objs.wait(
        lambda: objs.condition("VisionService", "lonely", "Ready").get("reason") == "MLModelServiceNotFound",
        "Ready=False MLModelServiceNotFound",
    )
    assert objs.status("VisionService", "lonely")["phase"] == "Pending"
    setup_fruit(objs, mlmodel("missing"))
    objs.wait_phase("VisionService", "lonely", "Running")


def test_latest_rolls_out_and_pin_does_not_move(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("follow"), mlmodel("stay", version="1"))
    objs.wait_phase("MLModelService", "follow", "Running")
    objs.wait_phase("MLModelService", "stay", "Running")
    objs.create(model_configmap("fruit-v2", MODEL_V2))
    versions = [cm_version("1", "fruit-v1"), cm_version("2", "fruit-v2", sha256=sha(MODEL_V2))]
    objs.patch("ModelPackage", "fruit", {"spec": {"versions": versions}})
    objs.wait(lambda: pinned(objs, "follow-mlmodel")[0]["version"] == "2", "rollout of 2")
    assert pinned(objs, "follow-mlmodel")[0]["sha256"] == sha(MODEL_V2)
    status = objs.wait_phase("MLModelService", "follow", "Running")
    assert status["resolvedPackages"][0]["version"] == "2"
    assert pinned(objs, "stay-mlmodel")[0]["version"] == "1"
    assert objs.status("MLModelService", "stay")["resolvedPackages"][0]["version"] == "1"


def test_checksum_mismatch_is_never_deployed(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.create(model_configmap("fruit-v2", MODEL_V2))
    bad = cm_version("2", "fruit-v2", sha256=sha(b"something else"))
    objs.patch("ModelPackage", "fruit", {"spec": {"versions": [cm_version("1", "fruit-v1"), bad]}})
    # Degraded also shows briefly while version 2 is being verified: wait for the verdict.
    objs.wait(
        lambda: objs.condition("MLModelService", "fruit", "Ready").get("reason") == "ChecksumMismatch",
        what="Ready reason ChecksumMismatch",
    )
    status = objs.status("MLModelService", "fruit")
    assert status["phase"] == "Degraded"
    ready = objs.condition("MLModelService", "fruit", "Ready")
    # Still Ready, only because version 1 serves; the message says so, and why 2 does not.
    assert ready["status"] == "True"
    assert ready["message"].startswith("fruit 1 serves; fruit 2: sha256 mismatch")
    assert objs.condition("MLModelService", "fruit", "Available")["status"] == "True"
    assert status["resolvedPackages"][0]["version"] == "1"
    assert [p["version"] for p in status["servingPackages"]] == ["1"]
    assert pinned(objs, "fruit-mlmodel")[0]["version"] == "1"
    assert objs.condition("ModelPackage", "fruit", "Verified")["reason"] == "ChecksumMismatch"


def new_pods(objs: Objects, name: str) -> list[dict[str, Any]]:
    template_hash = deployment(objs, f"{name}-mlmodel")["spec"]["template"]["metadata"]["annotations"][
        "mlmodel.dev/template-hash"
    ]
    pods = objs.list("Pod", selector=f"app.kubernetes.io/instance={name}")
    return [p for p in pods if p["metadata"]["annotations"]["mlmodel.dev/template-hash"] == template_hash]


def fail_init(objs: Objects, pod: dict[str, Any], termination: str) -> None:
    """What the kubelet reports when `mlmodel fetch` exits 1 having written `termination`."""
    status = {
        "initContainerStatuses": [
            {
                "name": "fetch-fruit-classifier",
                "image": "registry.invalid/mlmodel:test",
                "imageID": "",
                "ready": False,
                "restartCount": 3,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {
                    "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "message": termination,
                    }
                },
            }
        ]
    }
    objs.patch("Pod", pod["metadata"]["name"], {"status": status}, api="v1", subresource="/status")


def test_failed_rollout_keeps_old_pods_and_reports_degraded(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    old = {p["metadata"]["name"] for p in objs.list("Pod")}
    # The new pod can never be scheduled, so kwok never makes it Ready.
    objs.patch("MLModelService", "fruit", {"spec": {"nodeSelector": {"mlmodel.dev/none": "x"}}})
    objs.wait_phase("MLModelService", "fruit", "Degraded")
    assert objs.condition("MLModelService", "fruit", "Ready")["reason"] == "Unschedulable"
    new = objs.wait(lambda: new_pods(objs, "fruit"), "the new pod")
    # An older image's message: the error alone, no reason.
    fail_init(
        objs, new[0], json.dumps({"error": "sha256 mismatch for https://x/m.tflite: expected aaa, got bbb"})
    )
    objs.wait(
        lambda: objs.condition("MLModelService", "fruit", "Ready").get("reason") == "InitContainerFailed",
        "Ready reason InitContainerFailed",
    )
    assert "sha256 mismatch" in objs.condition("MLModelService", "fruit", "Progressing")["message"]
    assert objs.status("MLModelService", "fruit")["phase"] == "Degraded"
    assert objs.condition("MLModelService", "fruit", "Available")["status"] == "True"
    ready = objs.condition("MLModelService", "fruit", "Ready")
    assert ready["message"].startswith("fruit 1 serves; the new pod template is failing: init container")
    assert old <= {p["metadata"]["name"] for p in objs.list("Pod")}  # old pods still serve
    warnings = [e for e in objs.events("fruit") if e["type"] == "Warning"]
    assert any(e["reason"] == "Degraded" for e in warnings)


def test_tensor_summary_from_init_container(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    pod = new_pods(objs, "fruit")[0]
    summary = {
        "sha256": sha(MODEL_V1),
        "size": len(MODEL_V1),
        "model": "model.tflite",
        "inputs": [{"name": "image", "dtype": "uint8", "shape": [1, 224, 224, 3]}],
        "outputs": [{"name": "probability", "dtype": "float32", "shape": [1, 3]}],
    }
    init = {
        "initContainerStatuses": [
            {
                "name": "fetch-fruit-classifier",
                "image": "x",
                "imageID": "",
                "ready": True,
                "restartCount": 0,
                "state": {
                    "terminated": {"exitCode": 0, "reason": "Completed", "message": json.dumps(summary)}
                },
            }
        ]
    }
    objs.patch("Pod", pod["metadata"]["name"], {"status": init}, api="v1", subresource="/status")
    model = objs.wait(lambda: objs.status("MLModelService", "fruit").get("model"), "status.model")
    assert model["package"] == "fruit_classifier"
    assert model["inputs"][0] == {"name": "image", "dtype": "uint8", "shape": [1, 224, 224, 3]}


def test_auto_stop_and_declarative_restart(objs: Objects, mlmodel_operator: OperatorProcess) -> None:
    setup_fruit(objs, mlmodel("fruit", autoStop="1m"))
    status = objs.wait_phase("MLModelService", "fruit", "Running")
    assert status["autoStopDueTime"]
    mlmodel_operator.advance_clock(120)  # two minutes later, without waiting for them
    status = objs.wait_phase("MLModelService", "fruit", "Stopped")
    assert status["stopReason"] == "AutoStop" and status["stopTime"]
    assert objs.condition("MLModelService", "fruit", "Ready")["status"] == "False"
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 0, "scale to 0")
    assert objs.get("Service", "fruit-mlmodel", api="v1") is not None  # objects are kept
    # The Event follows the status write that the waits above saw: wait for it too.
    objs.wait(lambda: "AutoStopped" in {e["reason"] for e in objs.events("fruit")}, "the AutoStopped Event")
    # A restartedAt before stopTime changes nothing; one after it restarts the service.
    stop = status["stopTime"]
    objs.patch("MLModelService", "fruit", {"spec": {"restartedAt": "2020-01-01T00:00:00Z"}})
    objs.wait(lambda: objs.status("MLModelService", "fruit")["observedGeneration"] == 2, "seen")
    assert objs.status("MLModelService", "fruit")["phase"] == "Stopped"
    restart = format_time(parse_time(stop) + timedelta(seconds=1))
    objs.patch("MLModelService", "fruit", {"spec": {"restartedAt": restart}})
    status = objs.wait_phase("MLModelService", "fruit", "Running")
    assert "stopTime" not in status and status["autoStopDueTime"] > stop
    assert deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 1
    assert "Restarted" in {e["reason"] for e in objs.events("fruit")}


def test_spec_stopped_stops_and_resumes(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.patch("MLModelService", "fruit", {"spec": {"stopped": True}})
    status = objs.wait_phase("MLModelService", "fruit", "Stopped")
    assert status["stopReason"] == "StoppedBySpec"
    objs.patch("MLModelService", "fruit", {"spec": {"stopped": False}})
    objs.wait_phase("MLModelService", "fruit", "Running")


def test_drift_is_repaired(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    svc_uid = objs.get("Service", "fruit-mlmodel", api="v1")["metadata"]["uid"]
    objs.delete("Service", "fruit-mlmodel", api="v1")
    objs.wait(
        lambda: (s := objs.get("Service", "fruit-mlmodel", api="v1")) and s["metadata"]["uid"] != svc_uid,
        "the Service to be recreated",
    )
    objs.patch(
        "Deployment",
        "fruit-mlmodel",
        {
            "spec": {
                "replicas": 3,
                "template": {"spec": {"containers": [{"name": "server", "image": "evil:1"}]}},
            }
        },
        api="apps/v1",
    )
    objs.wait(
        lambda: (
            deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 1
            and deployment(objs, "fruit-mlmodel")["spec"]["template"]["spec"]["containers"][0]["image"]
            == "registry.invalid/mlmodel:test"
        ),
        "the Deployment to be restored",
    )


def test_deletion_cleans_up(objs: Objects) -> None:
    setup_fruit(objs, mlmodel("fruit"))
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.delete("MLModelService", "fruit")
    objs.wait(lambda: objs.get("MLModelService", "fruit") is None, "the owner to go")
    objs.wait(
        lambda: (
            objs.get("Deployment", "fruit-mlmodel", api="apps/v1") is None
            and objs.get("Service", "fruit-mlmodel", api="v1") is None
        ),
        "garbage collection of the children",
    )
