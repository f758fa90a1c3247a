"""Open Inference Protocol v2 over HTTP: health, metadata, JSON infer, errors."""

from __future__ import annotations

import gzip

import numpy as np
import orjson
import pytest


def infer_body(a, b, **extra) -> dict:
    return {
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": list(np.shape(a)), "data": a},
            {"name": "b", "datatype": "INT32", "shape": list(np.shape(b)), "data": b},
        ],
        **extra,
    }


def test_health_and_server_metadata(clients):
    client = clients("multi_io")
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2").json()
    assert meta["name"] == "mlmodel" and "binary_tensor_data" in meta["extensions"]


def test_model_metadata_reports_variable_dims_as_minus_one(clients):
    meta = clients("multi_io").get("/v2/models/multi_io").json()
    assert meta["platform"] == "tensorflow_lite" and meta["versions"] == ["1"]
    assert meta["inputs"] == [
        {"name": "a", "datatype": "FP32", "shape": [-1, 4]},
        {"name": "b", "datatype": "INT32", "shape": [1, 4]},
    ]
    assert [o["name"] for o in meta["outputs"]] == ["sum", "prod"]
    assert clients("multi_io").get("/v2/models/multi_io/versions/1").json() == meta


def test_unknown_models_and_versions_are_404_with_an_error(clients):
    client = clients("multi_io")
    for path in ("/v2/models/nope", "/v2/models/multi_io/versions/7", "/v2/models/nope/ready"):
        response = client.get(path)
        error = response.json()["error"]
        assert response.status_code == 404 and ("not found" in error or "no version" in error)
    response = client.post(
        "/v2/models/../../etc/passwd/infer", json=infer_body([[1, 2, 3, 4]], [[1, 2, 3, 4]])
    )
    assert response.status_code == 404 and "error" in response.json()


def test_model_ready_and_config(clients):
    client = clients("multi_io")
    assert client.get("/v2/models/multi_io/ready").json() == {"name": "multi_io", "ready": True}
    assert client.get("/v2/models/multi_io/versions/1/ready").status_code == 200
    config = client.get("/v2/models/multi_io/config").json()
    assert config["input"][0] == {"name": "a", "data_type": "TYPE_FP32", "dims": [-1, 4]}


def test_json_infer_gives_the_exact_outputs(clients, expected):
    cases = expected["models"]["multi_io.tflite"]["cases"]
    for case in cases:
        response = clients("multi_io").post(
            "/v2/models/multi_io/infer", json=infer_body(case["inputs"]["a"], case["inputs"]["b"], id="r1")
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model_name"] == "multi_io" and body["id"] == "r1"
        outputs = {o["name"]: o for o in body["outputs"]}
        for name, want in case["outputs"].items():
            assert outputs[name]["shape"] == list(np.shape(want))
            assert outputs[name]["data"] == np.ravel(want).tolist()


def test_flat_data_and_requested_outputs(clients):
    body = infer_body([[1, 2, 3, 4]], [[1, 1, 1, 1]], outputs=[{"name": "prod"}])
    body["inputs"][0]["data"] = [1, 2, 3, 4]
    response = clients("multi_io").post("/v2/models/multi_io/versions/1/infer", json=body)
    assert [o["name"] for o in response.json()["outputs"]] == ["prod"]
    assert response.json()["outputs"][0]["data"] == [2, 2, 2, 2]


def test_gzip_compressed_requests_are_inflated(clients):
    raw = orjson.dumps(infer_body([[1, 2, 3, 4]], [[1, 1, 1, 1]]))
    response = clients("multi_io").post(
        "/v2/models/multi_io/infer",
        content=gzip.compress(raw),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["outputs"][0]["data"] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    "mutate,status,message",
    [
        (
            lambda b: b["inputs"][0].update(datatype="FP64"),
            400,
            "datatype FP64 does not match the model's FP32",
        ),
        (
            lambda b: b["inputs"][1].update(shape=[2, 2]),
            400,
            "shape [2, 2] does not match the model's [1, 4]",
        ),
        (lambda b: b["inputs"][0].update(shape=[1, 5], data=[1] * 5), 400, "shape [1, 5]"),
        (lambda b: b["inputs"].pop(), 400, "missing input tensor(s): b"),
        (lambda b: b["inputs"][1].update(name="c"), 400, "unknown input tensor 'c'"),
        (lambda b: b.update(outputs=[{"name": "nope"}]), 400, "unknown output tensor 'nope'"),
        (lambda b: b["inputs"][0].update(data=[1, 2]), 400, "2 elements in 'data' but shape [1, 4] needs 4"),
        (lambda b: b.pop("inputs"), 400, "'inputs' must be a non-empty list"),
    ],
)
def test_bad_requests_are_400_naming_the_problem(clients, mutate, status, message):
    body = infer_body([[1, 2, 3, 4]], [[1, 1, 1, 1]])
    mutate(body)
    response = clients("multi_io").post("/v2/models/multi_io/infer", json=body)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_deeply_nested_and_malformed_json_are_400(clients):
    client = clients("multi_io")
    deep = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert client.post("/v2/models/multi_io/infer", content=deep).status_code == 400
    assert client.post("/v2/models/multi_io/infer", content=b"{").status_code == 400
    assert client.get("/v2/health/live").status_code == 200


def test_oversized_bodies_are_413(clients):
    from tests.http.conftest import make_client

    client = make_client("multi_io", max_body_bytes=1000)
    response = client.post("/v2/models/multi_io/infer", content=b"x" * 5000)
    assert response.status_code == 413 and "exceeds the limit" in response.json()["error"]
    client.app.state.dataplane.close()


def test_unknown_routes_are_404_json(clients):
    response = clients("multi_io").get("/v3/nothing")
    assert response.status_code == 404 and "no such endpoint" in response.json()["error"]
