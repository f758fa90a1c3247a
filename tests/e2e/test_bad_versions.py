"""Bad versions for real: under a steady stream, a bad `latest` never takes the old pods
down, status says what went wrong in the words of the check or the pod that failed, and
nothing claims the bad version serves.

(a) bytes that do not match the declared sha256; (b) bytes that are not a TFLite model, with
a correct sha256; (c) a model that loads but that no VisionService can use.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.packages import MODELS, cm_version, configmap, mlmodel, package, sha, tarball
from tests.e2e.scenarios import BODY, V2, path, publish, serve_v1, version_of, wait_ready
from tests.e2e.traffic import Stream, post, service_address
from tests.support.objects import Objects

IMAGES = MODELS.parent / "images"
HOLD = 25.0  # seconds the stream runs after the bad version is published


def degraded_message(objs: Objects, kind: str, name: str) -> str:
    """The service's status in one string: phase, Ready's reason and message, serving versions."""
    status = objs.status(kind, name)
    ready = objs.condition(kind, name, "Ready")
    return f"{status.get('phase')} {ready.get('reason')}: {ready.get('message')} {status}"


def observe(objs: Objects, stream: Stream, kind: str, name: str, words: tuple[str, ...]) -> float:
    """Seconds until status names the problem; then the stream keeps running for HOLD s."""
    t0 = time.monotonic()
    what = f"{kind}/{name} status naming {words}"
    objs.wait(lambda: any(w in degraded_message(objs, kind, name) for w in words), what, 120)
    took = time.monotonic() - t0
    time.sleep(HOLD)
    return took


def serving_versions(objs: Objects, kind: str, name: str) -> list[Any]:
    """Every version status says is serving (any field whose name says so)."""
    status = objs.status(kind, name)
    found = [p.get("version") for p in status.get("servingPackages") or []]
    return found or [p.get("version") for p in status.get("resolvedPackages") or []]


@pytest.mark.parametrize("case", ["wrong-sha256", "not-tflite"])
def test_bad_version_of_a_model_service_keeps_v1_serving(objs: Objects, case: str) -> None:
    address = serve_v1(objs)
    with Stream(address, path("float"), BODY, version_of) as stream:
        time.sleep(2)
        if case == "wrong-sha256":
            publish(objs, "float", "2", V2, sha256=sha(b"something else"))
            took = observe(objs, stream, "MLModelService", "float", ("ChecksumMismatch", "sha256"))
        else:
            publish(objs, "float", "2", b"this is a text file, not a model\n" * 10)
            took = observe(objs, stream, "MLModelService", "float", ("NotTFLite", "TFLite", "TFL3"))
    message = degraded_message(objs, "MLModelService", "float")
    print(f"\n[e2e] {case}: status named it after {took:.1f}s; {stream.summary()}; status: {message[:300]}")
    assert not stream.failures, stream.failures[:10]
    assert set(stream.answers) == {"v1"}
    assert "2" not in serving_versions(objs, "MLModelService", "float")


def test_model_no_vision_service_can_use_keeps_the_old_vision_pods(objs: Objects) -> None:
    files = {"model.tflite": (MODELS / "classifier_uint8.tflite").read_bytes(),
             "labels.txt": (MODELS / "classifier_labels.txt").read_bytes()}  # fmt: skip
    good, bad = tarball(files), tarball({"model.tflite": (MODELS / "multi_io.tflite").read_bytes()})
    objs.create(configmap("colours-1", "p.tar.gz", good))
    objs.create(configmap("colours-2", "p.tar.gz", bad))
    objs.create(package("colours", cm_version("1", "colours-1", "p.tar.gz", good)))
    objs.create(mlmodel("colours", "colours", "model.tflite"))
    objs.create({"apiVersion": "mlmodel.dev/v1alpha1", "kind": "VisionService",
                 "metadata": {"name": "colour"}, "spec": {"mlmodelName": "colours"}})  # fmt: skip
    wait_ready(objs, "VisionService", "colour")
    address = service_address(objs, "colour", "vision")
    image = (IMAGES / "red.png").read_bytes()
    classify = "/v1/vision/colour/classifications?n=1"
    wait_for(lambda: _answers(address, classify, image), "the first classification through the Service")
    with Stream(address, classify, image, None, content_type="image/png") as stream:
        time.sleep(2)
        versions = [cm_version("1", "colours-1", "p.tar.gz", good),
                    cm_version("2", "colours-2", "p.tar.gz", bad, latest=True)]  # fmt: skip
        objs.patch("ModelPackage", "colours", {"spec": {"versions": versions}})
        took = observe(objs, stream, "VisionService", "colour", ("cannot serve vision", "TensorMismatch"))
    print(f"\n[e2e] vision mismatch: status named it after {took:.1f}s; {stream.summary()}")
    assert not stream.failures, stream.failures[:10]
    assert "2" not in serving_versions(objs, "VisionService", "colour")


def _answers(address: tuple[str, int], path: str, body: bytes) -> bool:
    """Ready can precede kube-proxy's rules for the new endpoint by a moment."""
    try:
        return post(address, path, body, "image/png")[0] == 200
    except OSError:
        return False
