"""Our MLflow scoring against `mlflow models serve` itself: the Iris-shaped package wrapped as
an MLflow pyfunc (benchmarks/peers/mlflow_model.py, the package's own signature), both
servers sent the same bodies, answers compared status for status, error code for error
code, prediction for prediction (float32 bit for bit).

MLflow runs from the benchmarks' pinned venv (benchmarks/requirements-mlflow.txt, made
once under ~/.cache/mlmodel-operator/bench-venvs), so its pins never meet ours.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from benchmarks import servers, venvs

from tests.conftest import MODELS, PACKAGES, ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
IRIS = PACKAGES / "iris_classifier"
MODEL = MODELS / "iris_classifier.tflite"
NAMES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.4, 3.2, 4.5, 1.5], [6.7, 3.0, 5.2, 2.3]]
FRAME = pd.DataFrame(ROWS, columns=NAMES)


def _record(values: list[object]) -> dict[str, object]:
    return dict(zip(NAMES, values, strict=True))


# Bodies both servers answer alike: what MLflow's users send, and the ways they get it wrong.
SAME = {
    "split": {"dataframe_split": FRAME.to_dict(orient="split")},
    "split without index": {"dataframe_split": {"columns": NAMES, "data": ROWS}},
    "split, columns reordered": {"dataframe_split": FRAME[NAMES[::-1]].to_dict(orient="split")},
    "split, extra column": {"dataframe_split": FRAME.assign(extra="x").to_dict(orient="split")},
    "records": {"dataframe_records": FRAME.to_dict(orient="records")},
    "instances records": {"instances": FRAME.to_dict(orient="records")},
    "inputs records": {"inputs": FRAME.to_dict(orient="records")},
    "inputs columns": {"inputs": FRAME.to_dict(orient="list")},
    "instances columns": {"instances": FRAME.to_dict(orient="list")},
    "inputs one row": {"inputs": _record(ROWS[0])},
    "inputs broadcast": {"inputs": {**FRAME.to_dict(orient="list"), NAMES[1]: 3.0}},
    "whole numbers": {"dataframe_split": {"columns": NAMES, "data": [[5, 3, 1, 0]]}},
    "booleans": {"dataframe_split": {"columns": NAMES, "data": [[True, 3, 1, False]]}},
    "numeric strings": {"dataframe_split": FRAME.astype(str).to_dict(orient="split")},
    "null": {"dataframe_records": [_record([None, 3.5, 1.4, 0.2])]},
    "record lacking a key": {
        "dataframe_records": [_record(ROWS[0]), dict(zip(NAMES[:3], ROWS[1], strict=False))]
    },
    "params": {"dataframe_split": FRAME.to_dict(orient="split"), "params": {"top_k": 1}},
    "no rows": {"dataframe_split": {"columns": NAMES, "data": []}},
    "missing column": {"dataframe_split": FRAME[NAMES[:3]].to_dict(orient="split")},
    "missing and extra": {"dataframe_split": FRAME[NAMES[:3]].assign(x=1).to_dict(orient="split")},
    "unnamed rows": {"inputs": ROWS},
    "unnamed instances": {"instances": ROWS},
    "split without columns": {"dataframe_split": {"data": ROWS}},
    "scalar": {"inputs": 5.1},
    "not a number": {"dataframe_split": {"columns": NAMES, "data": [["abc", 3.5, 1.4, 0.2]]}},
    "list in a cell": {"dataframe_split": {"columns": NAMES, "data": [[[1], 3.5, 1.4, 0.2]]}},
    "object in a cell": {"dataframe_records": [_record([{"a": 1}, 3.5, 1.4, 0.2])]},
    "instances lacking a key": {"instances": [_record(ROWS[0]), dict(zip(NAMES[:3], ROWS[1], strict=False))]},
    "inputs of unequal lengths": {"inputs": {**FRAME.to_dict(orient="list"), NAMES[0]: [1.0]}},
    "split with a foreign key": {"dataframe_split": {"columns": NAMES, "data": ROWS, "foo": 1}},
    "split as a list": {"dataframe_split": ROWS},
    "records as an object": {"dataframe_records": _record(ROWS[0])},
    "short row": {"dataframe_split": {"columns": NAMES, "data": [ROWS[0][:3]]}},
    "index too short": {"dataframe_split": {"columns": NAMES, "data": ROWS, "index": [0]}},
    "two input fields": {"inputs": ROWS, "instances": ROWS},
    "no input field": {"rows": ROWS},
}


# Bodies for a tensor signature (one row: the pyfunc feeds the interpreter's [1, 4] input).
TENSOR = {
    "inputs": {"inputs": ROWS[:1]},
    "instances": {"instances": ROWS[:1]},
    "split": {"dataframe_split": FRAME[:1].to_dict(orient="split")},
    "records": {"dataframe_records": FRAME[:1].to_dict(orient="records")},
    "short row": {"inputs": [ROWS[0][:3]]},
    "three columns": {"dataframe_split": FRAME[NAMES[:3]][:1].to_dict(orient="split")},
}


@pytest.fixture(scope="module")
def mlflow_venv() -> Path:
    return venvs.ensure("mlflow", ROOT / "benchmarks" / "requirements-mlflow.txt")


@contextmanager
def mlflow_serving(venv: Path, package: Path, work: Path) -> Iterator[str]:
    """`mlflow models serve` of the package's model as an MLflow user would wrap it."""
    model_dir = work / "pyfunc"
    saver = [str(venv / "bin" / "python"), str(ROOT / "benchmarks" / "peers" / "mlflow_model.py")]
    subprocess.run(
        [*saver, "--package", str(package), "--out", str(model_dir)], check=True, capture_output=True
    )
    spec = servers.mlflow(venv, model_dir, servers.free_port())
    with servers.running(spec, work / "logs"):
        yield f"http://{servers.HOST}:{spec.port}"


@contextmanager
def ours_serving(*args: str) -> Iterator[str]:
    server = ServerProcess(list(args)).wait_ready()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def iris_pair(mlflow_venv, tmp_path_factory) -> Iterator[tuple[str, str]]:
    with (
        mlflow_serving(mlflow_venv, IRIS, tmp_path_factory.mktemp("mlflow")) as theirs,
        ours_serving("--package-dir", str(IRIS)) as ours,
    ):
        yield theirs, ours


@pytest.fixture(scope="module")
def integer_pair(mlflow_venv, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The same model behind a signature of 32-bit `integer` columns (a float32 tensor takes them)."""
    package = tmp_path_factory.mktemp("integer") / "iris_integer"
    shutil.copytree(IRIS, package)
    manifest = package / "MLmodel"
    manifest.write_text(manifest.read_text().replace('"type": "double"', '"type": "integer"'))
    # Its example in whole numbers too, as MLflow saves one for such a signature: the
    # server's self-test asks it, and refuses a package whose example does not fit.
    example = json.loads((package / "input_example.json").read_text())
    example["data"] = [[round(v) for v in row] for row in example["data"]]
    (package / "input_example.json").write_text(json.dumps(example))
    with (
        mlflow_serving(mlflow_venv, package, tmp_path_factory.mktemp("mlflow")) as theirs,
        ours_serving("--package-dir", str(package)) as ours,
    ):
        yield theirs, ours


@pytest.fixture(scope="module")
def tensor_pair(mlflow_venv, tmp_path_factory) -> Iterator[tuple[str, str]]:
    """The bare model: MLflow's pyfunc gets an unnamed tensor signature (-1, 4) from one run
    (and takes one row, as it is written); ours serves the .tflite's own tensors."""
    work = tmp_path_factory.mktemp("tensor")
    model_dir = work / "pyfunc"
    saver = [str(mlflow_venv / "bin" / "python"), str(ROOT / "benchmarks" / "peers" / "mlflow_model.py")]
    subprocess.run([*saver, "--model", str(MODEL), "--out", str(model_dir)], check=True, capture_output=True)
    spec = servers.mlflow(mlflow_venv, model_dir, servers.free_port())
    with servers.running(spec, work / "logs"), ours_serving("--model", str(MODEL)) as ours:
        yield f"http://{servers.HOST}:{spec.port}", ours


def answer(url: str, body: object) -> tuple[int, dict]:
    response = httpx.post(
        f"{url}/invocations",
        content=json.dumps(body),
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    return response.status_code, response.json()


def assert_same(theirs: tuple[int, dict], ours: tuple[int, dict]) -> None:
    assert ours[0] == theirs[0], (theirs, ours)
    if theirs[0] == 200:
        want = np.array(theirs[1]["predictions"], np.float32)
        got = np.array(ours[1]["predictions"], np.float32)
        assert got.shape == want.shape and got.tobytes() == want.tobytes(), (theirs, ours)
    else:
        assert ours[1]["error_code"] == theirs[1]["error_code"], (theirs, ours)


@pytest.mark.parametrize("case", list(SAME))
def test_same_answer_as_mlflow_models_serve(iris_pair, case):
    theirs, ours = iris_pair
    assert_same(answer(theirs, SAME[case]), answer(ours, SAME[case]))


@pytest.mark.parametrize("case", list(TENSOR))
def test_tensor_signature_same_answer_as_mlflow_models_serve(tensor_pair, case):
    theirs, ours = tensor_pair
    assert_same(answer(theirs, TENSOR[case]), answer(ours, TENSOR[case]))


def test_mlflow_client_reads_us_as_it_reads_mlflow(iris_pair, mlflow_venv):
    """MLflow's own ScoringServerClient (ping, version, invoke with a DataFrame) on both."""
    script = (
        "import json, sys, pandas as pd\n"
        "from mlflow.pyfunc.scoring_server.client import ScoringServerClient\n"
        "host, port = sys.argv[1].rsplit(':', 1)\n"
        "client = ScoringServerClient(host.removeprefix('http://'), int(port))\n"
        "client.ping()\n"
        "frame = pd.DataFrame(json.loads(sys.argv[2]), columns=json.loads(sys.argv[3]))\n"
        "print(json.dumps({'version': client.get_version(),"
        " 'predictions': client.invoke(frame).get_predictions().values.tolist()}))\n"
    )
    results = []
    for url in iris_pair:
        argv = [str(mlflow_venv / "bin" / "python"), "-c", script, url, json.dumps(ROWS), json.dumps(NAMES)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    theirs, ours = results
    assert (
        np.array(ours["predictions"], np.float32).tobytes()
        == np.array(theirs["predictions"], np.float32).tobytes()
    )
    assert ours["version"] and theirs["version"]


@pytest.mark.parametrize(
    "case,values",
    [
        ("whole floats", [5.0, 3.0, 1.0, 0.0]),
        ("numeric strings", ["5", "3", "1", "0"]),
        ("booleans", [1, 3, True, 0]),
    ],
)
def test_integer_columns_take_what_converts_exactly(integer_pair, case, values):
    theirs, ours = integer_pair
    body = {"dataframe_split": {"columns": NAMES, "data": [values]}}
    assert_same(answer(theirs, body), answer(ours, body))


@pytest.mark.parametrize(
    "values,column,reason",
    [
        ([5.5, 3, 1, 0], "sepal length (cm)", "not a whole number"),
        ([5, 2**40, 1, 0], "sepal width (cm)", "out of range for a 32-bit integer"),
    ],
)
def test_where_mlflow_loses_information_we_refuse(integer_pair, values, column, reason):
    """MLflow's pandas cast truncates 5.5 to 5 and wraps 2**40 to 0, and answers; MLflow
    documents only lossless conversions as allowed, and we keep to that: 400 naming the column."""
    theirs, ours = integer_pair
    body = {"dataframe_split": {"columns": NAMES, "data": [values]}}
    status, _ = answer(theirs, body)
    assert status == 200
    status, error = answer(ours, body)
    assert status == 400 and error["error_code"] == "BAD_REQUEST" and repr(column) in error["message"]
    assert reason in error["message"]
