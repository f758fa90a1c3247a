"""KServe's Python client over gRPC (`kserve.InferenceGRPCClient`) against a real
`mlmodel serve`: health, model readiness, metadata, inference with typed contents and
with raw_input_contents, and an unknown model. Outputs are compared bit for bit with a
direct LiteRT invoke and with tritonclient's answer to the same inputs.

kserve pins its own FastAPI, pydantic and NumPy, so it lives in the benchmarks' pinned
venv (benchmarks/requirements-kserve.txt, made once under ~/.cache/mlmodel-operator/
bench-venvs); tests/http/kserve_grpc_client.py makes the calls there. A venv that cannot
be made fails the test with pip's output.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
from benchmarks import venvs

from tests.conftest import MODELS
from tests.http.test_grpc import FIXTURES, assert_same, random_arrays, raw_infer
from tests.http.test_live_server import direct_invoke

pytestmark = pytest.mark.timeout(900)  # the first run makes kserve's venv

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("kserve_grpc_client.py")


@pytest.fixture(scope="module")
def kserve_python() -> Path:
    return venvs.ensure("kserve", ROOT / "benchmarks" / "requirements-kserve.txt") / "bin" / "python"


def kserve_calls(python: Path, target: str, model: str, arrays: dict[str, np.ndarray]) -> dict:
    """What kserve_grpc_client.py reports, the tensors decoded back to numpy."""
    request = {
        "target": target,
        "model": model,
        "inputs": {
            name: {"b64": base64.b64encode(a.tobytes()).decode(), "dtype": a.dtype.str, "shape": a.shape}
            for name, a in arrays.items()
        },
    }
    run = subprocess.run(
        [str(python), str(CLIENT)], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    for way in ("typed", "raw"):
        report[way] = {name: decoded(tensor) for name, tensor in report[way].items()}
    return report


def decoded(tensor: dict) -> np.ndarray:
    array = np.frombuffer(base64.b64decode(tensor["b64"]), np.dtype(tensor["dtype"]))
    assert tensor["datatype"] == tg.np_to_triton_dtype(array.dtype)
    return array.reshape(tensor["shape"])


@pytest.mark.parametrize("model", FIXTURES)
def test_kserve_client_infers_bit_for_bit_typed_and_raw(serve_process, kserve_python, model):
    server = serve_process("--model", MODELS / f"{model}.tflite")
    triton = tg.InferenceServerClient(server.grpc_target)
    arrays = random_arrays(triton, model, seed=len(model))
    want = direct_invoke(MODELS / f"{model}.tflite", arrays)
    by_triton = raw_infer(triton, model, arrays)
    assert_same({name: by_triton.as_numpy(name) for name in want}, want, f"{model} tritonclient")
    report = kserve_calls(kserve_python, server.grpc_target, model, arrays)
    assert_same(report["typed"], want, f"{model} kserve typed")
    assert_same(report["raw"], want, f"{model} kserve raw")


def test_kserve_client_health_metadata_and_unknown_model(serve_process, kserve_python):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    arrays = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    report = kserve_calls(kserve_python, server.grpc_target, "multi_io", arrays)
    assert (report["live"], report["ready"], report["model_ready"]) == (True, True, True)
    metadata = report["metadata"]
    for side in ("inputs", "outputs"):  # JSON shapes of int64 fields are strings in protobuf's JSON
        metadata[side] = [{**t, "shape": [int(d) for d in t["shape"]]} for t in metadata[side]]
    assert metadata == httpx.get(f"{server.url}/v2/models/multi_io").json()
    for call, (code, details) in report["unknown"].items():
        assert code == "NOT_FOUND" and "model 'nope' not found" in details, (call, code, details)
