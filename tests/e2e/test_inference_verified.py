"""Ready means answered, on real pods: status names the version whose pods answered their
self-test inference and when; a wrong model in the right shape (the package's
output_example says so) never takes traffic, under a steady stream, and status says why.

The fruit package is the fixture's, with an output_example: v1's is the answer the model
gives to the package's input_example (tests/fixtures/expected.json), v2's is what a lime
classifier would answer, which this model does not. v2's MLmodel says version 2.0.0, so
every answer's `model_version` says which package produced it.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

import numpy as np

from tests.e2e.conftest import wait_for
from tests.e2e.packages import FRUIT, cm_version, configmap, mlmodel, package, tarball
from tests.e2e.scenarios import wait_ready
from tests.e2e.traffic import Stream, infer_body, post, service_address
from tests.support.objects import Objects

EXPECTED = json.loads((FRUIT.parents[1] / "expected.json").read_text())
RIGHT = EXPECTED["packages"]["fruit_classifier"]["input_example_outputs"]["probabilities"]
LIME = [[0.0024662, 0.9949448, 0.0024662, 0.0001228]]  # a lime classifier's answer, not this model's
KEY = "fruit.tar.gz"
BODY = infer_body(np.zeros((1, 32, 32, 3), np.uint8))
PATH = "/v2/models/fruit/infer"


def fruit_version(version: str, answer: list[list[float]]) -> bytes:
    """The fixture package with an output_example, its MLmodel saying `version`."""
    files = {p.name: p.read_bytes() for p in FRUIT.iterdir() if p.is_file()}
    manifest = files["MLmodel"].decode().replace("version: '1.0.0'", f"version: '{version}'")
    files["MLmodel"] = f"{manifest}output_example: output_example.json\n".encode()
    files["output_example.json"] = json.dumps({"predictions": answer}).encode()
    return tarball(files)


def model_version(raw: bytes) -> str:
    return str(json.loads(raw)["model_version"])


def get(address: tuple[str, int], path: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", path)
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def condition(objs: Objects, kind: str, name: str, type_: str) -> dict[str, Any]:
    return dict(objs.condition(kind, name, type_))


def serve_fruit(objs: Objects) -> tuple[str, int]:
    good = fruit_version("1.0.0", RIGHT)
    objs.create(configmap("fruit-1", KEY, good))
    objs.create(package("fruit", cm_version("1", "fruit-1", KEY, good)))
    objs.create(mlmodel("fruit", "fruit", "model.tflite", "labels.txt"))
    wait_ready(objs, "MLModelService", "fruit")
    address = service_address(objs, "fruit")
    wait_for(lambda: _answers(address), "fruit answering through its Service")
    return address


def _answers(address: tuple[str, int]) -> bool:
    try:
        return post(address, PATH, BODY, timeout=2)[0] == 200
    except OSError:
        return False


def test_status_names_the_version_that_answered_its_self_test_and_when(objs: Objects) -> None:
    address = serve_fruit(objs)
    verified = condition(objs, "MLModelService", "fruit", "InferenceVerified")
    assert (verified["status"], verified["reason"]) == ("True", "SelfTestPassed"), verified
    pods = objs.list("Pod", api="v1")
    ready_at = max(
        c["lastTransitionTime"] for p in pods for c in p["status"]["conditions"] if c["type"] == "Ready"
    )
    assert verified["message"] == (
        f"fruit 1: 1 Ready pod(s) answered their self-test inference, the latest at {ready_at}"
    )
    assert condition(objs, "MLModelService", "fruit", "Ready")["message"] == "fruit 1 serves"
    report = get(address, "/v1/selftest")["models"][0]
    print(f"\n[e2e] self-test: {report}")
    assert (report["passed"], report["check"], report["version"]) == (True, "output_example", "1.0.0")
    assert 0 < report["durationSeconds"] < 5


def test_a_wrong_model_in_the_right_shape_never_takes_traffic(objs: Objects) -> None:
    address = serve_fruit(objs)
    with Stream(address, PATH, BODY, model_version) as stream:
        time.sleep(2)
        wrong = fruit_version("2.0.0", LIME)
        objs.create(configmap("fruit-2", KEY, wrong))
        versions = [cm_version("1", "fruit-1", KEY, fruit_version("1.0.0", RIGHT)),
                    cm_version("2", "fruit-2", KEY, wrong, latest=True)]  # fmt: skip
        t0 = time.monotonic()
        objs.patch("ModelPackage", "fruit", {"spec": {"versions": versions}})
        objs.wait(
            lambda: condition(objs, "MLModelService", "fruit", "Ready").get("reason") == "SelfTestFailed",
            "Ready reason SelfTestFailed",
            120,
        )
        took = time.monotonic() - t0
        time.sleep(20)
    ready = condition(objs, "MLModelService", "fruit", "Ready")
    print(f"\n[e2e] wrong model: SelfTestFailed in status after {took:.1f}s; {stream.summary()}; {ready}")
    assert not stream.failures, stream.failures[:10]
    assert set(stream.answers) == {"1.0.0"}  # v2 never answered a request
    assert ready["status"] == "True"
    assert ready["message"].startswith(
        "fruit 1 serves; fruit 2 is failing: container server: SelfTestFailed: mlmodel serve: error: "
        "self-test (output_example): output 'probabilities' differs from the output_example by"
    )
    status = objs.status("MLModelService", "fruit")
    assert status["phase"] == "Degraded"
    assert [p["version"] for p in status["servingPackages"]] == ["1"]
    verified = condition(objs, "MLModelService", "fruit", "InferenceVerified")
    assert verified["status"] == "True" and verified["message"].startswith("fruit 1: ")
