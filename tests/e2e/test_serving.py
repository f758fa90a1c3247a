"""Packages really fetched inside pods and models really served through Services.

One ModelPackage comes from an https server on the host (its CA handed over in a
ConfigMap, as a user would), one from a ConfigMap. The `mlmodel fetch` init container
downloads and verifies each, the server loads it, the real readiness probe passes, and
tritonclient (HTTP and gRPC, unmodified) reaches it through the Service's ClusterIP
(kube-proxy) with answers bit-identical to a direct LiteRT invoke on the host.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton
from ai_edge_litert.interpreter import Interpreter

from tests.e2e.conftest import wait_for
from tests.e2e.packages import (
    FRUIT,
    MODELS,
    cm_version,
    configmap,
    fruit_package,
    https_server,
    mlmodel,
    package,
    sha,
    tarball,
)
from tests.e2e.traffic import post, ready_through, service_address
from tests.support.objects import Objects

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "tests" / "fixtures" / "images"


def litert(model: Path, array: np.ndarray) -> np.ndarray:
    """The reference answer: the same model invoked directly on the host."""
    interpreter = Interpreter(model_path=str(model))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], array)
    interpreter.invoke()
    return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))


def triton_infer(address: tuple[str, int], model: str, array: np.ndarray) -> np.ndarray:
    wait_for(lambda: ready_through(address), f"{model} ready through its Service", 30)
    client = triton.InferenceServerClient(url=f"{address[0]}:{address[1]}")
    assert client.is_model_ready(model)
    tensor = triton.InferInput("image", list(array.shape), "UINT8" if array.dtype == np.uint8 else "FP32")
    tensor.set_data_from_numpy(array, binary_data=True)
    result = client.infer(model, [tensor])
    return np.array(result.as_numpy(result.get_response()["outputs"][0]["name"]))


def triton_grpc_infer(objs: Objects, owner: str, model: str, array: np.ndarray) -> np.ndarray:
    """The same call over OIP gRPC, on the Service's `grpc` port."""
    svc = objs.get("Service", f"{owner}-mlmodel", api="v1")
    assert svc, f"no Service {owner}-mlmodel"
    port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "grpc")
    client = triton_grpc.InferenceServerClient(url=f"{svc['spec']['clusterIP']}:{port}")
    assert client.is_server_ready() and client.is_model_ready(model)
    datatype = "UINT8" if array.dtype == np.uint8 else "FP32"
    tensor = triton_grpc.InferInput("image", list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    result = client.infer(model, [tensor])
    stats = client.get_inference_statistics(model, as_json=True)["model_stats"][0]["inference_stats"]
    assert int(stats["success"]["count"]) >= 1, stats  # the statistics extension counts this call
    return np.array(result.as_numpy(result.get_response().outputs[0].name))


def wait_ready(objs: Objects, kind: str, name: str, timeout: float = 180) -> float:
    """Seconds until the resource's Ready condition is True."""
    t0 = time.monotonic()
    objs.wait(lambda: objs.condition(kind, name, "Ready").get("status") == "True",
              f"{kind}/{name} Ready", timeout)  # fmt: skip
    return time.monotonic() - t0


def fetched(objs: Objects, owner: str) -> str:
    """The init container's termination message (its summary) of a Ready pod of `owner`."""
    pods = objs.list("Pod", selector=f"app.kubernetes.io/instance={owner}")
    statuses = [s for p in pods for s in p["status"].get("initContainerStatuses") or []]
    assert statuses, f"no init container status on pods of {owner}"
    done = statuses[0]["state"]["terminated"]
    assert done["exitCode"] == 0, done
    return str(done.get("message", ""))


def test_https_and_configmap_packages_serve_through_services(objs: Objects, tmp_path: Path) -> None:
    fruit = fruit_package()
    float_model = (MODELS / "classifier_float32.tflite").read_bytes()
    with https_server(tmp_path, {"fruit-1.tar.gz": fruit}) as server:
        objs.create(configmap("artifact-ca", "ca.crt", server.ca_pem))
        url_version = {
            "version": "1",
            "sha256": sha(fruit),
            "source": {
                "url": server.url("fruit-1.tar.gz"),
                "caConfigMap": {"name": "artifact-ca", "key": "ca.crt"},
            },
        }
        objs.create(package("fruit", url_version))
        objs.create(configmap("float-1", "model.tflite", float_model))
        objs.create(package("float", cm_version("1", "float-1", "model.tflite", float_model)))
        objs.create(mlmodel("fruit", "fruit", "model.tflite", "labels.txt"))
        objs.create(mlmodel("float", "float", "model.tflite"))
        took = {name: wait_ready(objs, "MLModelService", name) for name in ("fruit", "float")}
    print(f"\n[e2e] Ready after apply: {took}; fetch summaries: {fetched(objs, 'fruit')[:120]!r}")

    example = json.loads((FRUIT / "input_example.json").read_text())
    image = np.array(example["inputs"]["image"], dtype=np.uint8)
    got = triton_infer(service_address(objs, "fruit"), "fruit", image)
    assert np.array_equal(got, litert(FRUIT / "model.tflite", image))
    assert np.array_equal(triton_grpc_infer(objs, "fruit", "fruit", image), got)

    floats = np.linspace(0, 1, 32 * 32 * 3, dtype=np.float32).reshape(1, 32, 32, 3)
    got = triton_infer(service_address(objs, "float"), "float", floats)
    assert np.array_equal(got, litert(MODELS / "classifier_float32.tflite", floats))


def test_vision_service_classifies_a_real_image_through_its_service(objs: Objects, expected: dict) -> None:
    files = {"model.tflite": (MODELS / "classifier_uint8.tflite").read_bytes(),
             "labels.txt": (MODELS / "classifier_labels.txt").read_bytes()}  # fmt: skip
    data = tarball(files)
    objs.create(configmap("colours-1", "colours.tar.gz", data))
    objs.create(package("colours", cm_version("1", "colours-1", "colours.tar.gz", data)))
    objs.create(mlmodel("colours", "colours", "model.tflite", "labels.txt"))
    objs.create({"apiVersion": "mlmodel.dev/v1alpha1", "kind": "VisionService",
                 "metadata": {"name": "colour"}, "spec": {"mlmodelName": "colours"}})  # fmt: skip
    took = wait_ready(objs, "VisionService", "colour")
    case = next(
        c for c in expected["models"]["classifier_uint8.tflite"]["cases"] if c["image"].endswith("red.png")
    )
    _, raw = wait_for(lambda: (r := post_image(objs, "red.png"))[0] == 200 and r, "a classification")
    top = json.loads(raw)["classifications"][0]
    print(f"\n[e2e] VisionService Ready in {took:.1f}s; red.png -> {top}")
    assert top["class_name"] == case["top_label"] == "red"
    assert top["confidence"] == pytest.approx(case["top_probability"], abs=1e-4)


def post_image(objs: Objects, name: str) -> tuple[int, bytes]:
    address = service_address(objs, "colour", "vision")
    path = "/v1/vision/colour/classifications?n=1"
    return post(address, path, (IMAGES / name).read_bytes(), "image/png")
