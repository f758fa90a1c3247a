"""The data-plane contract: the pods the operator generates would really serve.

kwok never runs containers, so this takes the Deployments the operator wrote to the
real API server, runs their init and main containers as local processes (volumes
materialised in a temp dir, ConfigMaps read from the cluster), and checks that the
readiness probe passes and an inference answers.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from operator_fixtures import Objects, OperatorProcess
from tests.conftest import IMAGES, PACKAGES
from tests.support.podrunner import run_pod


def package_tarball(root: Path) -> bytes:
    """The fruit_classifier package directory as a .tar.gz, as a user would upload it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path in sorted(root.iterdir()):
            tar.add(path, arcname=path.name)
    return out.getvalue()


def fruit_objects(data: bytes) -> list[dict[str, Any]]:
    api = "mlmodel.dev/v1alpha1"
    digest = hashlib.sha256(data).hexdigest()
    source = {"configMap": {"name": "fruit-package", "key": "fruit_classifier.tar.gz"}}
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "fruit-package"},
            "binaryData": {"fruit_classifier.tar.gz": base64.b64encode(data).decode()},
        },
        {
            "apiVersion": api,
            "kind": "ModelPackage",
            "metadata": {"name": "fruit"},
            "spec": {"versions": [{"version": "1.0.0", "source": source, "sha256": digest}]},
        },
        {
            "apiVersion": api,
            "kind": "MLModelService",
            "metadata": {"name": "fruit"},
            "spec": {
                "attributes": {
                    "model_path": "${packages.fruit_classifier}/model.tflite",
                    "label_path": "${packages.fruit_classifier}/labels.txt",
                },
                "packages": [{"name": "fruit_classifier", "package": "fruit"}],
            },
        },
        {
            "apiVersion": api,
            "kind": "VisionService",
            "metadata": {"name": "fruit-vision"},
            "spec": {"mlmodelName": "fruit", "attributes": {"default_minimum_confidence": 0.5}},
        },
    ]


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Objects:
    return Objects(kube, namespace, mlmodel_operator)


def generated_pod(objs: Objects, kind: str, name: str, child: str) -> dict[str, Any]:
    objs.wait_phase(kind, name, "Running")
    deployment = objs.get("Deployment", child, api="apps/v1")
    assert deployment is not None
    return dict(deployment["spec"]["template"]["spec"])


def read_configmap(objs: Objects):
    return lambda name: objs.get("ConfigMap", name, api="v1") or {}


def classify_red(url: str, service: str) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/v1/vision/{service}/classifications?n=1",
        content=(IMAGES / "red.png").read_bytes(),
        headers={"Content-Type": "image/png"},
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["classifications"][0])


def test_generated_pods_fetch_verify_and_serve(objs: Objects, tmp_path: Path) -> None:
    for obj in fruit_objects(package_tarball(PACKAGES / "fruit_classifier")):
        objs.create(obj)
    pod = generated_pod(objs, "MLModelService", "fruit", "fruit-mlmodel")
    run = run_pod(pod, tmp_path / "mlmodel", read_configmap(objs))
    try:
        [summary] = run.termination_messages.values()
        assert json.loads(summary)["inputs"][0]["name"] == "image"
        metadata = httpx.get(f"{run.url}/v2/models/fruit").json()
        assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [1, 32, 32, 3]}]
        assert classify_red(run.url, "fruit")["class_name"] == "apple"
    finally:
        run.stop()
    vision_pod = generated_pod(objs, "VisionService", "fruit-vision", "fruit-vision-vision")
    vision_run = run_pod(vision_pod, tmp_path / "vision", read_configmap(objs))
    try:
        assert classify_red(vision_run.url, "fruit-vision")["confidence"] > 0.99
    finally:
        vision_run.stop()


def test_a_tampered_package_fails_the_init_container(objs: Objects, tmp_path: Path) -> None:
    """The init container refuses bytes whose sha256 differs from the pinned digest."""
    for obj in fruit_objects(package_tarball(PACKAGES / "fruit_classifier")):
        objs.create(obj)
    pod = generated_pod(objs, "MLModelService", "fruit", "fruit-mlmodel")
    tampered = {"binaryData": {"fruit_classifier.tar.gz": base64.b64encode(b"not the package").decode()}}
    with pytest.raises(AssertionError, match="sha256"):
        run_pod(pod, tmp_path, lambda name: tampered)
