"""MLflow scoring of a tabular model, against a real `mlmodel serve` process: the Iris-shaped
package (a column-based signature, the seed's four doubles) called with the bodies MLflow
users send, built as MLflow's client builds them, from pandas DataFrames."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import MODELS, PACKAGES, ServerProcess

IRIS = PACKAGES / "iris_classifier"


@pytest.fixture(scope="module")
def iris_url() -> Iterator[str]:
    server = ServerProcess(["--package-dir", str(IRIS)]).wait_ready()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def iris(expected) -> dict:
    return expected["packages"]["iris_classifier"]


@pytest.fixture(scope="module")
def frame(iris) -> pd.DataFrame:
    example = json.loads((IRIS / "input_example.json").read_text())
    return pd.DataFrame(example["data"], columns=example["columns"])


def invoke(url: str, body: object) -> httpx.Response:
    """POST a body serialized as MLflow's client does (`json.dumps`, application/json)."""
    content = json.dumps(body)
    return httpx.post(f"{url}/invocations", content=content, headers={"Content-Type": "application/json"})


def assert_predicts(response: httpx.Response, iris: dict, rows: slice = slice(None)) -> None:
    assert response.status_code == 200, response.text
    want = np.array(iris["input_example_outputs"]["probabilities"])[rows]
    np.testing.assert_allclose(response.json()["predictions"], want, atol=1e-6)


def test_pandas_split_and_records_as_mlflow_documents(iris_url, iris, frame):
    assert_predicts(invoke(iris_url, {"dataframe_split": frame.to_dict(orient="split")}), iris)
    assert_predicts(invoke(iris_url, {"dataframe_records": frame.to_dict(orient="records")}), iris)


def test_the_packages_serving_input_example_answers(iris_url, iris):
    assert_predicts(invoke(iris_url, json.loads((IRIS / "serving_input_example.json").read_text())), iris)


def test_columns_are_taken_by_name_in_signature_order_and_extras_ignored(iris_url, iris, frame):
    shuffled = frame[frame.columns[::-1]].assign(species_guess="?", row_id=range(len(frame)))
    assert_predicts(invoke(iris_url, {"dataframe_split": shuffled.to_dict(orient="split")}), iris)
    assert_predicts(invoke(iris_url, {"dataframe_records": shuffled.to_dict(orient="records")}), iris)


def test_tf_serving_forms_with_named_columns(iris_url, iris, frame):
    assert_predicts(invoke(iris_url, {"instances": frame.to_dict(orient="records")}), iris)
    assert_predicts(invoke(iris_url, {"inputs": frame.to_dict(orient="list")}), iris)
    first = frame.iloc[0].to_dict()
    assert_predicts(invoke(iris_url, {"inputs": first}), iris, slice(0, 1))


def test_safe_conversions_of_the_values(iris_url, iris, frame):
    """Whole numbers, numeric strings and `params` (no params schema: ignored) as MLflow takes them."""
    as_strings = frame.astype(str).to_dict(orient="split")
    assert_predicts(invoke(iris_url, {"dataframe_split": as_strings, "params": {"top_k": 1}}), iris)
    whole = invoke(iris_url, {"dataframe_split": {"columns": list(frame.columns), "data": [[5, 3, 1, 0]]}})
    assert whole.status_code == 200 and np.argmax(whole.json()["predictions"][0]) == 0


@pytest.mark.parametrize(
    "body,code,message",
    [
        (
            lambda f: {"dataframe_split": f.drop(columns="petal width (cm)").to_dict(orient="split")},
            "INVALID_PARAMETER_VALUE",
            "Model is missing inputs ['petal width (cm)'].",
        ),
        (
            lambda f: {
                "dataframe_records": f.assign(**{"sepal width (cm)": "wide"}).to_dict(orient="records")
            },
            "BAD_REQUEST",
            "Failed to convert column 'sepal width (cm)' to type 'double': row 0: could not convert",
        ),
        (
            lambda f: {"inputs": f.to_numpy().tolist()},
            "INVALID_PARAMETER_VALUE",
            "Model is missing inputs ['sepal length (cm)', 'sepal width (cm)', 'petal length (cm)'",
        ),
        (
            lambda f: {"dataframe_split": {"columns": list(f.columns), "data": [[1, 2, 3]]}},
            "BAD_REQUEST",
            "dataframe_split row 0 has 3 values for 4 columns",
        ),
    ],
)
def test_errors_name_the_column(iris_url, frame, body, code, message):
    response = invoke(iris_url, body(frame))
    assert response.status_code == 400
    assert response.json()["error_code"] == code and message in response.json()["message"]


def test_ping_and_version_answer_as_mlflow_does(iris_url):
    for path in ("/ping", "/health"):
        ping = httpx.get(f"{iris_url}{path}")
        assert ping.status_code == 200 and ping.text == "\n"
        assert ping.headers["content-type"] == "application/json"
    version = httpx.get(f"{iris_url}/version")
    assert version.headers["content-type"] == "application/json" and version.text[0].isdigit()


def test_the_same_model_without_its_package_takes_tensors(serve_process, iris, frame):
    """No MLmodel, no columns: `inputs` is the tensor, and a DataFrame's unnamed columns make
    up each row, in the frame's order, as MLflow reads one under an unnamed tensor signature."""
    server = serve_process("--model", MODELS / "iris_classifier.tflite")
    assert_predicts(invoke(server.url, {"inputs": frame.to_numpy().tolist()}), iris)
    assert_predicts(invoke(server.url, {"dataframe_split": frame.to_dict(orient="split")}), iris)
    wrong = invoke(server.url, {"dataframe_split": frame.iloc[:, :3].to_dict(orient="split")})
    assert wrong.status_code == 400 and "does not match expected shape (-1, 4)" in wrong.json()["message"]
