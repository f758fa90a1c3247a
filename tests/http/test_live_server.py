"""A real `mlmodel serve` process: tritonclient as the client, published models bit for bit."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from ai_edge_litert.interpreter import Interpreter

from tests.conftest import MODELS, PACKAGES

PUBLISHED = ["face_detection_short_range", "face_detection_full_range", "face_landmark", "iris_landmark"]


def direct_invoke(path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference: one LiteRT interpreter invoked in-process."""
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    for detail in interp.get_input_details():
        interp.set_tensor(detail["index"], inputs[detail["name"]])
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}


def random_inputs(client: triton.InferenceServerClient, name: str, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    meta = client.get_model_metadata(name)
    return {
        i["name"]: rng.random(i["shape"]).astype(triton.triton_to_np_dtype(i["datatype"]))
        for i in meta["inputs"]
    }


def triton_infer(client, name, arrays: dict[str, np.ndarray], binary: bool):
    inputs = []
    for key, array in arrays.items():
        tensor = triton.InferInput(key, list(array.shape), triton.np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array, binary_data=binary)
        inputs.append(tensor)
    return client.infer(name, inputs)


@pytest.mark.parametrize("model", PUBLISHED)
def test_published_models_answer_bit_for_bit(serve_process, published_models, model):
    server = serve_process("--model", published_models / f"{model}.tflite", "--num-threads", "2")
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live() and client.is_model_ready(model)
    arrays = random_inputs(client, model, seed=len(model))
    want = direct_invoke(published_models / f"{model}.tflite", arrays)
    for binary in (True, False):
        result = triton_infer(client, model, arrays, binary)
        for name, array in want.items():
            got = result.as_numpy(name)
            assert got.dtype == array.dtype and got.shape == array.shape
            assert got.tobytes() == array.tobytes(), f"{model}:{name} differs (binary={binary})"


def test_tritonclient_requested_outputs_and_versions(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite", "--model-version", "3")
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.get_server_metadata()["extensions"][0] == "binary_tensor_data"
    assert client.is_model_ready("multi_io", model_version="3")
    a = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]], np.float32)
    b = np.array([[1, 2, 3, 4]], np.int32)
    inputs = [triton.InferInput("a", [2, 4], "FP32"), triton.InferInput("b", [1, 4], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b, binary_data=False)
    result = client.infer(
        "multi_io", inputs, model_version="3", outputs=[triton.InferRequestedOutput("sum", binary_data=True)]
    )
    np.testing.assert_array_equal(result.as_numpy("sum"), a + b)
    assert result.as_numpy("prod") is None
    with pytest.raises(triton.InferenceServerException, match="no version"):
        client.infer("multi_io", inputs, model_version="9")


def test_tritonclient_gzip_and_errors(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    inputs = [triton.InferInput("a", [1, 4], "FP32"), triton.InferInput("b", [1, 4], "INT32")]
    inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
    inputs[1].set_data_from_numpy(np.ones((1, 4), np.int32))
    result = client.infer("multi_io", inputs, request_compression_algorithm="gzip")
    assert result.as_numpy("prod").tolist() == [[2, 2, 2, 2]]
    wrong = [triton.InferInput("a", [1, 4], "FP64"), inputs[1]]
    wrong[0].set_data_from_numpy(np.ones((1, 4), np.float64))
    with pytest.raises(triton.InferenceServerException, match="datatype FP64 does not match"):
        client.infer("multi_io", wrong)
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 200


def test_concurrent_requests_all_answer_correctly(serve_process):
    """Many clients at once over the pool: every answer matches its own request."""
    server = serve_process("--model", MODELS / "multi_io.tflite", "--pool-size", "2")

    async def one(client, k: int) -> bool:
        a = np.full((1, 4), k, np.float32)
        inputs = [triton_aio.InferInput("a", [1, 4], "FP32"), triton_aio.InferInput("b", [1, 4], "INT32")]
        inputs[0].set_data_from_numpy(a)
        inputs[1].set_data_from_numpy(np.full((1, 4), k, np.int32))
        result = await client.infer("multi_io", inputs)
        return bool((result.as_numpy("sum") == 2 * k).all() and (result.as_numpy("prod") == 2 * k).all())

    async def run() -> list[bool]:
        client = triton_aio.InferenceServerClient(server.url.removeprefix("http://"))
        try:
            return await asyncio.gather(*(one(client, k) for k in range(200)))
        finally:
            await client.close()

    assert all(asyncio.run(run()))


def test_package_directory_is_served_with_its_manifest_version(serve_process):
    server = serve_process("--package-dir", PACKAGES / "fruit_classifier")
    meta = httpx.get(f"{server.url}/v2/models/fruit_classifier").json()
    assert meta["versions"] == ["1.0.0"] and meta["inputs"][0]["name"] == "image"
    labels = httpx.get(f"{server.url}/v1/mlmodel/fruit_classifier/metadata").json()["output_info"][0]["extra"]
    want = (PACKAGES / "fruit_classifier" / "labels.txt").read_text().split()
    assert labels["labels"] == want and len(want) == 4
