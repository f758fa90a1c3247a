"""The calls a KServe user makes over gRPC, run inside KServe's own venv (its pins are not
ours: tests/http/test_kserve_grpc.py starts this script there).

Reads one JSON object on stdin: the gRPC target, a model and its inputs (base64 bytes,
numpy dtype, shape). Writes one JSON object on stdout: what `kserve.InferenceGRPCClient`
answered for health, for the inputs sent as typed `contents` and as raw_input_contents,
and the status of calls naming an unknown model. InferenceGRPCClient has no metadata call,
so metadata goes through the generated stub the kserve package ships.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from kserve import InferenceGRPCClient, InferInput, InferRequest
from kserve.protocol.grpc import grpc_predict_v2_pb2 as pb
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub
from kserve.utils.numpy_codec import from_np_dtype

UNKNOWN = "nope"


def decode(tensors: dict[str, dict]) -> dict[str, np.ndarray]:
    return {
        name: np.frombuffer(base64.b64decode(t["b64"]), np.dtype(t["dtype"])).reshape(t["shape"])
        for name, t in tensors.items()
    }


def encode(array: np.ndarray, datatype: str) -> dict:
    return {
        "b64": base64.b64encode(array.tobytes()).decode(),
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "datatype": datatype,
    }


async def infer(client: InferenceGRPCClient, model: str, arrays: dict[str, np.ndarray], raw: bool) -> dict:
    """One ModelInfer through the client; `raw` is kserve's binary_data (raw_input_contents)."""
    inputs = []
    for name, array in arrays.items():
        tensor = InferInput(name, list(array.shape), from_np_dtype(array.dtype))
        tensor.set_data_from_numpy(array, binary_data=raw)
        inputs.append(tensor)
    response = await client.infer(InferRequest(model, inputs))
    return {out.name: encode(out.as_numpy(), out.datatype) for out in response.outputs}


async def status(call) -> list[str]:  # type: ignore[no-untyped-def]
    """The status code name and details a call that should fail ends with."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return [exc.code().name, exc.details() or ""]
    return ["OK", ""]


async def calls(request: dict) -> dict:
    arrays, model, target = decode(request["inputs"]), request["model"], request["target"]
    async with InferenceGRPCClient(target) as client, grpc.aio.insecure_channel(target) as channel:
        stub = GRPCInferenceServiceStub(channel)
        metadata = await stub.ModelMetadata(pb.ModelMetadataRequest(name=model))
        return {
            "live": await client.is_server_live(),
            "ready": await client.is_server_ready(),
            "model_ready": await client.is_model_ready(model),
            "metadata": MessageToDict(metadata, preserving_proto_field_name=True),
            "typed": await infer(client, model, arrays, raw=False),
            "raw": await infer(client, model, arrays, raw=True),
            "unknown": {
                "infer": await status(infer(client, UNKNOWN, arrays, raw=True)),
                "model_ready": await status(client.is_model_ready(UNKNOWN)),
                "metadata": await status(stub.ModelMetadata(pb.ModelMetadataRequest(name=UNKNOWN))),
            },
        }


if __name__ == "__main__":
    json.dump(asyncio.run(calls(json.load(sys.stdin))), sys.stdout)
