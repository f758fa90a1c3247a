"""The Open Inference Protocol over gRPC on real `mlmodel serve` processes.

tritonclient.grpc is the client (it sends raw_input_contents); typed `contents` go through
tritonclient's own generated stub, so neither side of a test shares code with the server.
Outputs are compared bit for bit with a direct LiteRT invoke.
"""

from __future__ import annotations

import asyncio
import gzip
import signal
import socket
import subprocess
import sys
import time

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.grpc as tg
import tritonclient.grpc.aio as tg_aio
import tritonclient.http as triton_http
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc

from mlmodel_server.api.grpc_oip import service_handler
from mlmodel_server.api.metrics import Metrics
from mlmodel_server.runtime.model import ModelConfig
from mlmodel_server.server import GrpcEndpoint, assemble
from tests.conftest import MODELS, free_port
from tests.http.test_live_server import PUBLISHED, direct_invoke

JSON_BODY = (
    b'{"inputs": [{"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, '
    b'{"name": "b", "shape": [1, 4], "datatype": "INT32", "data": [1, 1, 1, 1]}]}'
)
FIXTURES = ["multi_io", "classifier_uint8", "classifier_float32", "classifier_metadata", "detector_ssd"]
# The InferTensorContents field each datatype travels in (the OIP's table, written out anew).
FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def random_arrays(client: tg.InferenceServerClient, model: str, seed: int) -> dict[str, np.ndarray]:
    """Inputs of the model's metadata (variable dimensions as 1, as the direct invoke has
    them), in each dtype's range."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for tensor in client.get_model_metadata(model).inputs:
        shape = [1 if d < 0 else d for d in tensor.shape]
        dtype = np.dtype(tg.triton_to_np_dtype(tensor.datatype))
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            arrays[tensor.name] = rng.integers(max(info.min, -1000), min(info.max, 1000) + 1, shape, dtype)
        else:
            arrays[tensor.name] = rng.standard_normal(shape).astype(dtype)
    return arrays


def raw_infer(client: tg.InferenceServerClient, model: str, arrays: dict[str, np.ndarray], **kw):
    inputs = []
    for name, array in arrays.items():
        tensor = tg.InferInput(name, list(array.shape), tg.np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return client.infer(model, inputs, **kw)


def typed_request(model: str, arrays: dict[str, np.ndarray]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    for name, array in arrays.items():
        datatype = tg.np_to_triton_dtype(array.dtype)
        tensor = request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        getattr(tensor.contents, FIELDS[datatype]).extend(array.ravel().tolist())
    return request


def typed_outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    assert not response.raw_output_contents, "typed inputs are answered with typed contents"
    return {
        out.name: np.array(
            getattr(out.contents, FIELDS[out.datatype]), tg.triton_to_np_dtype(out.datatype)
        ).reshape(tuple(out.shape))
        for out in response.outputs
    }


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray], label: str) -> None:
    assert set(got) == set(want), label
    for name, array in want.items():
        assert got[name].dtype == array.dtype and got[name].shape == array.shape, f"{label}:{name}"
        assert got[name].tobytes() == array.tobytes(), f"{label}:{name} differs"


def stub(target: str) -> service_pb2_grpc.GRPCInferenceServiceStub:
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(target))


def code_of(call, *args, **kw) -> tuple[grpc.StatusCode, str]:
    """The status code and message a failing call ends with (tritonclient or a stub)."""
    try:
        call(*args, **kw)
    except tg.InferenceServerException as exc:
        return grpc.StatusCode[exc.status().removeprefix("StatusCode.")], exc.message()
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    raise AssertionError("the call succeeded")


def bit_for_bit(server, path, model: str) -> None:
    client = tg.InferenceServerClient(server.grpc_target)
    arrays = random_arrays(client, model, seed=len(model))
    want = direct_invoke(path, arrays)
    result = raw_infer(client, model, arrays)
    assert_same({name: result.as_numpy(name) for name in want}, want, f"{model} raw")
    typed = stub(server.grpc_target).ModelInfer(typed_request(model, arrays))
    assert_same(typed_outputs(typed), want, f"{model} typed")


@pytest.mark.parametrize("model", FIXTURES)
def test_fixture_models_answer_bit_for_bit_raw_and_typed(serve_process, model):
    server = serve_process("--model", MODELS / f"{model}.tflite")
    bit_for_bit(server, MODELS / f"{model}.tflite", model)


@pytest.mark.parametrize("model", PUBLISHED)
def test_published_models_answer_bit_for_bit_raw_and_typed(serve_process, published_models, model):
    server = serve_process("--model", published_models / f"{model}.tflite", "--num-threads", "2")
    bit_for_bit(server, published_models / f"{model}.tflite", model)


def test_health_and_metadata_match_rest(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite", "--model-version", "3")
    client = tg.InferenceServerClient(server.grpc_target)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("multi_io") and client.is_model_ready("multi_io", "3")
    rest = httpx.get(f"{server.url}/v2").json()
    meta = client.get_server_metadata(as_json=True)
    assert (meta["name"], meta["version"], meta["extensions"]) == (
        rest["name"],
        rest["version"],
        rest["extensions"],
    )
    model = client.get_model_metadata("multi_io", "3", as_json=True)
    want = httpx.get(f"{server.url}/v2/models/multi_io").json()
    for side in ("inputs", "outputs"):  # JSON shapes of int64 fields are strings in protobuf's JSON
        model[side] = [{**t, "shape": [int(d) for d in t["shape"]]} for t in model[side]]
    assert model == want


def test_requested_outputs_id_and_parameters(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    client = tg.InferenceServerClient(server.grpc_target)
    a, b = np.arange(8, dtype=np.float32).reshape(2, 4), np.ones((1, 4), np.int32)
    result = raw_infer(
        client,
        "multi_io",
        {"a": a, "b": b},
        outputs=[tg.InferRequestedOutput("prod")],
        request_id="r-7",
        parameters={"note": "x", "count": 3, "flag": True},
    )
    response = result.get_response()
    assert [o.name for o in response.outputs] == ["prod"] and response.id == "r-7"
    assert result.as_numpy("prod").shape == (1, 4)
    request = typed_request("multi_io", {"a": a, "b": b})
    request.outputs.add(name="sum")
    request.parameters["binary_data_output"].bool_param = True  # typed in, raw out on request
    answer = stub(server.grpc_target).ModelInfer(request)
    assert [o.name for o in answer.outputs] == ["sum"]
    assert np.frombuffer(answer.raw_output_contents[0], np.float32).tolist() == (a + b).ravel().tolist()


def test_every_error_is_a_status_code_naming_the_problem(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    client, raw = tg.InferenceServerClient(server.grpc_target), stub(server.grpc_target)
    a, b = np.ones((1, 4), np.float32), np.ones((1, 4), np.int32)
    invalid, missing = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND

    def infer(arrays: dict[str, np.ndarray], model: str = "multi_io", **kw):
        return lambda: raw_infer(client, model, arrays, **kw)

    nope = [tg.InferRequestedOutput("nope")]
    cases = [
        (missing, "model 'nope' not found", infer({"a": a, "b": b}, "nope")),
        (missing, "has no version '9'", infer({"a": a, "b": b}, model_version="9")),
        (missing, "model 'nope' not found", lambda: client.get_model_metadata("nope")),
        (missing, "model 'nope' not found", lambda: client.is_model_ready("nope")),
        (
            invalid,
            "datatype FP64 does not match the model's FP32",
            infer({"a": a.astype(np.float64), "b": b}),
        ),
        (invalid, "shape [2, 2] does not match the model's [1, 4]", infer({"a": a, "b": b.reshape(2, 2)})),
        (invalid, "missing input tensor(s): b", infer({"a": a})),
        (invalid, "unknown input tensor 'c'", infer({"a": a, "b": b, "c": b})),
        (invalid, "unknown output tensor 'nope'", infer({"a": a, "b": b}, outputs=nope)),
    ]
    for code, message, call in cases:
        got = code_of(call)
        assert got[0] == code and message in got[1], (message, got)

    short = pb.ModelInferRequest(model_name="multi_io", raw_input_contents=[a.tobytes()[:12], b.tobytes()])
    short.inputs.add(name="a", datatype="FP32", shape=[1, 4])
    short.inputs.add(name="b", datatype="INT32", shape=[1, 4])
    assert code_of(raw.ModelInfer, short) == (
        invalid,
        "input 'a': raw_input_contents[0] is 12 bytes but shape [1, 4] of FP32 needs 16",
    )
    typed = typed_request("multi_io", {"a": a, "b": b})
    del typed.inputs[1].contents.int_contents[-1]
    assert code_of(raw.ModelInfer, typed) == (
        invalid,
        "input 'b': 3 elements in contents.int_contents but shape [1, 4] needs 4",
    )
    mixed = typed_request("multi_io", {"a": a, "b": b})
    mixed.raw_input_contents.extend([a.tobytes(), b.tobytes()])
    assert code_of(raw.ModelInfer, mixed) == (
        invalid,
        "input 'a' has contents, but the request sends raw_input_contents",
    )
    assert code_of(raw.ModelInfer, pb.ModelInferRequest(model_name="multi_io")) == (
        invalid,
        "request field 'inputs' must be a non-empty list",
    )


def test_oversize_requests_are_resource_exhausted_compressed_or_not(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite", "--max-body-bytes", "4096")
    client = tg.InferenceServerClient(server.grpc_target)
    big = {"a": np.zeros((300, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    assert len(gzip.compress(big["a"].tobytes())) < 4096  # it would fit, compressed
    for compression in (None, "gzip"):
        code, message = code_of(raw_infer, client, "multi_io", big, compression_algorithm=compression)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in message, message
    small = {"a": np.zeros((2, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    assert raw_infer(client, "multi_io", small).as_numpy("sum").shape == (2, 4)


def test_bearer_token_from_metadata(serve_process, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    server = serve_process("--model", MODELS / "multi_io.tflite", "--auth-token-file", token)
    client = tg.InferenceServerClient(server.grpc_target)
    arrays = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    assert client.is_server_live() and client.is_server_ready()  # health stays open
    for headers in (None, {"authorization": "Bearer wrong"}):
        code, message = code_of(raw_infer, client, "multi_io", arrays, headers=headers)
        assert code == grpc.StatusCode.UNAUTHENTICATED and "bearer token" in message
        assert code_of(client.get_model_metadata, "multi_io", headers=headers)[0] == code
    good = {"authorization": "Bearer s3cret"}
    assert raw_infer(client, "multi_io", arrays, headers=good).as_numpy("prod").tolist() == [[2, 2, 2, 2]]


def test_grpc_calls_are_in_the_prometheus_metrics(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite")
    client = tg.InferenceServerClient(server.grpc_target)
    raw_infer(client, "multi_io", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)})
    code_of(raw_infer, client, "nope", {"a": np.ones((1, 4), np.float32)})
    text = httpx.get(f"{server.url}/metrics").text
    route = 'route="/inference.GRPCInferenceService/ModelInfer"'
    for status in ("OK", "NOT_FOUND"):
        assert f'mlmodel_requests_total{{method="GRPC",{route},status="{status}"}} 1.0' in text
    assert f'mlmodel_request_duration_seconds_count{{method="GRPC",{route}}} 2.0' in text


def test_readiness_is_one_truth_through_the_sigterm_drain(serve_process):
    server = serve_process("--model", MODELS / "multi_io.tflite", "--drain-seconds", "2")
    client = tg.InferenceServerClient(server.grpc_target)
    arrays = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    assert client.is_server_ready() and client.is_model_ready("multi_io")
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert not client.is_server_ready() and not client.is_model_ready("multi_io")
    assert httpx.get(f"{server.url}/v2/health/ready").status_code == 503
    assert raw_infer(client, "multi_io", arrays).as_numpy("prod").tolist() == [[2, 2, 2, 2]]
    assert server.proc.wait(timeout=15) == 0


def test_grpc_port_taken_is_one_line_and_zero_turns_grpc_off(serve_process):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        command = [
            sys.executable,
            "-m",
            "mlmodel_server.cli",
            "serve",
            "--port",
            "0",
            "--grpc-port",
            str(port),
        ]
        result = subprocess.run(
            [*command, "--model", str(MODELS / "multi_io.tflite")], capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"mlmodel serve: error: cannot listen on 127.0.0.1:{port}")
    )
    server = serve_process("--model", MODELS / "multi_io.tflite", "--grpc-port", "0")  # the last one wins
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.grpc_port), timeout=2).close()


def test_statistics_extension_over_rest_and_grpc(serve_process):
    """tritonclient's get_inference_statistics, both protocols: the same counts, gRPC
    calls and REST calls together."""
    server = serve_process("--model", MODELS / "multi_io.tflite")
    grpc_client = tg.InferenceServerClient(server.grpc_target)
    http_client = triton_http.InferenceServerClient(server.url.removeprefix("http://"))
    arrays = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.int32)}
    for _ in range(3):
        raw_infer(grpc_client, "multi_io", arrays)
    httpx.post(f"{server.url}/v2/models/multi_io/infer", content=JSON_BODY).raise_for_status()
    code_of(raw_infer, grpc_client, "multi_io", {"a": arrays["a"]})  # refused: a failure
    rest = http_client.get_inference_statistics("multi_io")
    assert http_client.get_inference_statistics() == rest  # every model: the one served
    assert httpx.get(f"{server.url}/v2/models/multi_io/versions/1/stats").json() == rest
    [model] = rest["model_stats"]
    stats = model["inference_stats"]
    assert (model["name"], model["version"], model["inference_count"]) == ("multi_io", "1", 4)
    assert stats["success"]["count"] == stats["compute_infer"]["count"] == 4 and stats["fail"]["count"] == 1
    over_grpc = grpc_client.get_inference_statistics("multi_io", as_json=True)["model_stats"][0]
    assert int(over_grpc["inference_stats"]["success"]["ns"]) == stats["success"]["ns"]
    assert "statistics" in grpc_client.get_server_metadata().extensions
    assert code_of(grpc_client.get_inference_statistics, "nope")[0] == grpc.StatusCode.NOT_FOUND
    assert httpx.get(f"{server.url}/v2/models/nope/stats").status_code == 404


def test_a_model_that_is_not_ready_is_unavailable():
    """In process, where the model can be switched off: what a loading or stopped model answers."""
    dataplane = assemble(ModelConfig(MODELS / "multi_io.tflite", name="multi_io", pool_size=1))
    endpoint = GrpcEndpoint(service_handler(dataplane, Metrics(), None), "127.0.0.1", free_port(), 1 << 20)

    async def calls() -> tuple[bool, tg.InferenceServerException]:
        server = await endpoint.start()
        client = tg_aio.InferenceServerClient(endpoint.address)
        try:
            dataplane.models["multi_io"].ready = False
            inputs = [tg_aio.InferInput("a", [1, 4], "FP32"), tg_aio.InferInput("b", [1, 4], "INT32")]
            inputs[0].set_data_from_numpy(np.ones((1, 4), np.float32))
            inputs[1].set_data_from_numpy(np.ones((1, 4), np.int32))
            with pytest.raises(tg.InferenceServerException) as refused:
                await client.infer("multi_io", inputs)
            return await client.is_model_ready("multi_io"), refused.value
        finally:
            await client.close()
            await server.stop(None)

    try:
        ready, refused = asyncio.run(calls())
    finally:
        dataplane.close()
    assert not ready
    assert (
        refused.status() == "StatusCode.UNAVAILABLE" and "model 'multi_io' is not ready" in refused.message()
    )
