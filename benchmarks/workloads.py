"""The requests of every path, serialised once, and how to read each answer back.

Every server gets the same input tensor: binary OIP (a JSON header plus the raw
float32 bytes, as tritonclient sends them), JSON OIP (flat `data`), gRPC OIP (a
ModelInferRequest with raw_input_contents, as tritonclient.grpc sends it), MLflow's
/invocations (`{"inputs": nested}`) and, for image classifiers, the vision path
(the same tensor as a PNG).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from grpcload import GrpcRequest
from loadgen import HttpRequest, HttpResponse
from mlmodel_server.proto import grpc_predict_v2_pb2 as pb

BINARY_OIP, JSON_OIP, INVOCATIONS, VISION = "binary OIP", "JSON OIP", "MLflow /invocations", "vision"
GRPC_OIP = "gRPC OIP"
PATHS = (BINARY_OIP, GRPC_OIP, JSON_OIP, INVOCATIONS, VISION)
OIP_DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.uint8): "UINT8", np.dtype(np.int8): "INT8"}


@dataclass(frozen=True)
class Workload:
    """One model and the input every server is sent for it."""

    key: str  # short name in tables
    name: str  # model name in URLs
    path: Path
    labels: Path | None
    inputs: dict[str, np.ndarray]
    image_classifier: bool

    @property
    def content(self) -> bytes:
        return self.path.read_bytes()


def load(key: str, path: Path, labels: Path | None, seed: int = 0) -> Workload:
    """Random inputs in the model's float range (-1..1), fixed by `seed`."""
    interp = Interpreter(model_path=str(path))
    rng = np.random.default_rng(seed)
    inputs = {
        d["name"]: _random(rng, tuple(int(x) for x in d["shape"]), d["dtype"])
        for d in interp.get_input_details()
    }
    outputs = interp.get_output_details()
    classifier = len(inputs) == 1 and len(outputs) == 1 and len(outputs[0]["shape"]) == 2
    image = classifier and next(iter(inputs.values())).shape[-1] == 3
    return Workload(key, path.stem, path, labels, inputs, image)


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if np.dtype(dtype) == np.float32:
        return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


# -- requests ------------------------------------------------------------------


def binary_oip(w: Workload) -> HttpRequest:
    specs = [
        {
            "name": name,
            "datatype": OIP_DATATYPES[a.dtype],
            "shape": list(a.shape),
            "parameters": {"binary_data_size": a.nbytes},
        }
        for name, a in w.inputs.items()
    ]
    header = orjson.dumps({"inputs": specs, "parameters": {"binary_data_output": True}})
    body = header + b"".join(a.tobytes() for a in w.inputs.values())
    headers = (
        ("Content-Type", "application/octet-stream"),
        ("Inference-Header-Content-Length", str(len(header))),
    )
    return HttpRequest("POST", f"/v2/models/{w.name}/infer", body, headers)


def grpc_oip(w: Workload) -> GrpcRequest:
    request = pb.ModelInferRequest(model_name=w.name)
    for name, a in w.inputs.items():
        request.inputs.add(name=name, datatype=OIP_DATATYPES[a.dtype], shape=a.shape)
        request.raw_input_contents.append(a.tobytes())
    return GrpcRequest(request.SerializeToString())


def json_oip(w: Workload) -> HttpRequest:
    specs = [
        {"name": name, "datatype": OIP_DATATYPES[a.dtype], "shape": list(a.shape), "data": a.ravel()}
        for name, a in w.inputs.items()
    ]
    body = orjson.dumps({"inputs": specs}, option=orjson.OPT_SERIALIZE_NUMPY)
    return HttpRequest("POST", f"/v2/models/{w.name}/infer", body, (("Content-Type", "application/json"),))


def invocations(w: Workload) -> HttpRequest:
    value = next(iter(w.inputs.values())) if len(w.inputs) == 1 else w.inputs
    body = orjson.dumps({"inputs": value}, option=orjson.OPT_SERIALIZE_NUMPY)
    return HttpRequest("POST", "/invocations", body, (("Content-Type", "application/json"),))


def vision(w: Workload, name: str | None = None) -> HttpRequest:
    """The input tensor as the PNG a camera would send (pixels = (x + 1) * 127.5)."""
    tensor = next(iter(w.inputs.values()))[0]
    pixels = np.clip(np.rint((tensor + 1.0) * 127.5), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    path = f"/v1/vision/{name or w.name}/classifications"
    return HttpRequest("POST", path, buffer.getvalue(), (("Content-Type", "image/png"),))


BUILDERS = {
    BINARY_OIP: binary_oip,
    GRPC_OIP: grpc_oip,
    JSON_OIP: json_oip,
    INVOCATIONS: invocations,
    VISION: vision,
}


# -- answers -------------------------------------------------------------------


def decode(path: str, response: HttpResponse | bytes) -> dict[str, np.ndarray]:
    """The output tensors of an answer on `path` (the vision path: its confidences)."""
    if isinstance(response, bytes):
        return _grpc_outputs(response)
    if response.status != 200:
        raise ValueError(f"HTTP {response.status}: {response.body[:300].decode('utf-8', 'replace')}")
    if path == VISION:
        found = orjson.loads(response.body)["classifications"]
        return {"confidence": np.asarray([c["confidence"] for c in found], dtype=np.float32)}
    if path == INVOCATIONS:
        predictions = orjson.loads(response.body)["predictions"]
        if isinstance(predictions, dict):
            return {k: np.asarray(v, dtype=np.float32) for k, v in predictions.items()}
        return {"": np.asarray(predictions, dtype=np.float32)}
    return _oip_outputs(response)


def _oip_outputs(response: HttpResponse) -> dict[str, np.ndarray]:
    length = response.header("inference-header-content-length")
    header = response.body[: int(length)] if length else response.body
    doc, offset, outputs = orjson.loads(header), int(length or 0), {}
    for out in doc["outputs"]:
        size = (out.get("parameters") or {}).get("binary_data_size")
        if size is None:
            outputs[out["name"]] = np.asarray(out["data"], dtype=np.float32).reshape(out["shape"])
            continue
        chunk = response.body[offset : offset + size]
        outputs[out["name"]] = np.frombuffer(chunk, dtype="<f4").reshape(out["shape"])
        offset += size
    return outputs


def _grpc_outputs(body: bytes) -> dict[str, np.ndarray]:
    """FP32 outputs, raw (ours, Triton) or typed (KServe answers raw requests typed)."""
    answer = pb.ModelInferResponse.FromString(body)
    if answer.raw_output_contents:
        arrays = [np.frombuffer(raw, dtype="<f4") for raw in answer.raw_output_contents]
    else:
        arrays = [np.asarray(out.contents.fp32_contents, dtype=np.float32) for out in answer.outputs]
    return {out.name: a.reshape(tuple(out.shape)) for out, a in zip(answer.outputs, arrays, strict=True)}


def matches(path: str, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> bool:
    """Same numbers as a direct invoke (vision: a probability ranking from the image)."""
    if path == VISION:
        confidences = got["confidence"]
        return confidences.size > 0 and bool(np.all(np.diff(confidences) <= 0))
    if "" in got:  # MLflow's unnamed single output
        got = {next(iter(want)): got[""]}
    return set(got) == set(want) and all(
        np.allclose(got[k].reshape(want[k].shape), want[k], rtol=1e-4, atol=1e-5) for k in want
    )
