"""MLflow scoring routes, Viam-shaped model metadata, Prometheus metrics, the test page HTML."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from mlmodel_server.app import HttpSettings, create_app
from mlmodel_server.runtime.model import ModelConfig
from mlmodel_server.server import assemble
from tests.conftest import IMAGES, MODELS


def test_ping_health_and_version(clients):
    client = clients("multi_io")
    assert client.get("/ping").status_code == 200 and client.get("/health").status_code == 200
    assert client.get("/version").text


def test_invocations_with_named_inputs(clients):
    body = {"inputs": {"a": [[1.0, 2.0, 3.0, 4.0]], "b": [[1, 1, 1, 1]]}}
    response = clients("multi_io").post("/invocations", json=body)
    assert response.json() == {"predictions": {"sum": [[2.0, 3.0, 4.0, 5.0]], "prod": [[2, 2, 2, 2]]}}


def test_invocations_with_instances_rows(clients):
    rows = [{"a": [1.0, 2.0, 3.0, 4.0], "b": [1, 1, 1, 1]}]
    response = clients("multi_io").post("/invocations", json={"instances": rows})
    assert response.json()["predictions"]["sum"] == [[2.0, 3.0, 4.0, 5.0]]


def test_dataframes_for_a_tensor_model_name_a_column_per_input(clients):
    """MLflow's reading of a DataFrame under a tensor signature: each cell one batch element."""
    split = {"columns": ["b", "a"], "data": [[[1, 1, 1, 1], [1.0, 2.0, 3.0, 4.0]]]}
    response = clients("multi_io").post("/invocations", json={"dataframe_split": split})
    assert response.json() == {"predictions": {"sum": [[2.0, 3.0, 4.0, 5.0]], "prod": [[2, 2, 2, 2]]}}
    records = [{"a": [1.0, 2.0, 3.0, 4.0], "b": [1, 1, 1, 1]}]
    assert clients("multi_io").post("/invocations", json={"dataframe_records": records}).status_code == 200


def test_invocations_single_input_tensor(clients):
    image = [[[[255, 0, 0]] * 32] * 32]
    response = clients("classifier_uint8").post("/invocations", json={"inputs": image})
    predictions = response.json()["predictions"]
    assert len(predictions[0]) == 4 and max(predictions[0]) == predictions[0][0]


@pytest.mark.parametrize(
    "body,content_type,status,code,message",
    [
        (b'{"inputs": 1, "instances": 2}', "application/json", 400, "BAD_REQUEST", "exactly one of"),
        (b'{"dataframe_split": {}}', "application/json", 400, "BAD_REQUEST", "with a 'data' field"),
        (
            b'{"dataframe_records": [{"a": [1, 2, 3, 4]}]}',
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "Model is missing inputs ['b']",
        ),
        (b"a,b\n1,2", "text/csv", 415, "BAD_REQUEST", "Content-Type 'text/csv'"),
        (b"{}", "application/json; charset=latin-1", 415, "BAD_REQUEST", "'charset=latin-1'"),
        (b"{", "application/json", 400, "BAD_REQUEST", "not valid JSON"),
        (
            b'{"inputs": {"a": [[1, 2, 3]], "b": [[1, 1, 1, 1]]}}',
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "Shape of input (1, 3) does not match expected shape (-1, 4)",
        ),
        (
            b'{"inputs": {"a": [[1, 2, 3, 4]], "b": [[1.5, 1, 1, 1]]}}',
            "application/json",
            400,
            "INVALID_PARAMETER_VALUE",
            "expected int32 numbers",
        ),
    ],
)
def test_invocation_errors_use_mlflow_error_codes(clients, body, content_type, status, code, message):
    response = clients("multi_io").post("/invocations", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    payload = response.json()
    assert payload["error_code"] == code and message in payload["message"]


def test_viam_metadata_reads_embedded_tflite_metadata(clients):
    meta = clients("classifier_metadata").get("/v1/mlmodel/classifier_metadata/metadata").json()
    assert meta["type"] == "classifier" and "mean colour" in meta["description"]
    [image] = meta["input_info"]
    assert image["data_type"] == "float32" and image["shape"] == [1, 32, 32, 3]
    assert image["extra"]["normalization"] == {"mean": [127.5], "std": [127.5]}
    [probabilities] = meta["output_info"]
    assert probabilities["extra"]["labels"] == ["red", "green", "blue", "black"]
    assert probabilities["associated_files"][0]["label_type"] == "TENSOR_AXIS_LABELS"


def test_viam_metadata_types_and_label_file(clients):
    detector = clients("detector_ssd").get("/v1/mlmodel/detector_ssd/metadata").json()
    assert detector["type"] == "detector" and len(detector["output_info"]) == 4
    assert all(o["extra"]["labels"] == ["red", "green", "blue"] for o in detector["output_info"])
    other = clients("multi_io").get("/v1/mlmodel/multi_io/metadata").json()
    assert other["type"] == "other" and other["input_info"][0]["shape"] == [-1, 4]
    assert clients("multi_io").get("/v1/mlmodel/nope/metadata").status_code == 404


def test_metrics_count_requests_by_route_and_status(clients):
    client = clients("classifier_uint8")
    client.post(
        "/v1/vision/classifier_uint8/classifications",
        content=(IMAGES / "red.png").read_bytes(),
        headers={"Content-Type": "image/png"},
    )
    client.get("/v2/models/nope")
    text = client.get("/metrics").text
    assert 'route="/v1/vision/{name}/classifications",status="200"' in text
    assert 'mlmodel_requests_total{method="GET",route="/v2/models/{name}",status="404"}' in text
    assert 'mlmodel_inference_duration_seconds_count{model="classifier_uint8"}' in text
    assert 'mlmodel_model_info{kind="classifier",model="classifier_uint8"' in text


def test_test_page_is_served(clients):
    response = clients("classifier_uint8").get("/")
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert "v1/vision/" in response.text
    assert clients("classifier_uint8").get("/v1/models").json()["vision"][0]["classifications_supported"]


def test_bearer_token_guards_inference_but_not_health_or_metrics():
    dataplane = assemble(ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=1))
    secured = TestClient(create_app(dataplane, HttpSettings(auth_token="s3cret")))
    body = {"inputs": {"a": [[1.0, 2.0, 3.0, 4.0]], "b": [[1, 1, 1, 1]]}}
    for path in ("/v2/health/ready", "/v2/health/live", "/metrics", "/ping", "/"):
        assert secured.get(path).status_code == 200, path
    refused = secured.post("/invocations", json=body)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json() == {"error": "missing or invalid bearer token"}
    assert secured.get("/v2/models/multi_io", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = secured.post("/invocations", json=body, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    dataplane.close()
