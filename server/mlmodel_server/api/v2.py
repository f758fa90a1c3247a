"""Open Inference Protocol v2 (KServe/Triton REST), with the binary tensor extension."""

from __future__ import annotations

import zlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..codecs.datatypes import oip_datatype
from ..codecs.oip import HEADER_LENGTH, Body, InferRequest, encode_response, parse_request
from ..dataplane import DataPlane
from ..errors import InvalidInput, PayloadTooLarge
from ..runtime.model import TFLiteModel
from ..runtime.tensors import TensorSpec
from . import openapi
from .responses import JSON

PLATFORM = "tensorflow_lite"
INFER_PATH = "/v2/models/{name}/infer"
INFER_VERSION_PATH = "/v2/models/{name}/versions/{version}/infer"
TRITON_TYPES = {"FP32": "TYPE_FP32", "FP16": "TYPE_FP16", "FP64": "TYPE_FP64", "BYTES": "TYPE_STRING"}


def tensor_metadata(spec: TensorSpec) -> dict[str, object]:
    return {"name": spec.name, "datatype": oip_datatype(spec.dtype), "shape": list(spec.shape_signature)}


def model_metadata(model: TFLiteModel) -> dict[str, object]:
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": PLATFORM,
        "inputs": [tensor_metadata(t) for t in model.inputs],
        "outputs": [tensor_metadata(t) for t in model.outputs],
    }


def _triton_tensor(spec: TensorSpec) -> dict[str, object]:
    datatype = oip_datatype(spec.dtype)
    return {
        "name": spec.name,
        "data_type": TRITON_TYPES.get(datatype, f"TYPE_{datatype}"),
        "dims": list(spec.shape_signature),
    }


def inflate(body: Body, content_encoding: str | None, max_bytes: int) -> Body:
    """The request body, inflated when the client compressed it (tritonclient can)."""
    encoding = (content_encoding or "identity").lower()
    if encoding in ("identity", ""):
        return body
    if encoding not in ("gzip", "deflate"):
        raise InvalidInput(f"unsupported Content-Encoding '{encoding}'; use gzip or deflate")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
    try:
        inflated = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise InvalidInput(f"cannot inflate the {encoding} body: {exc}") from None
    if len(inflated) > max_bytes:
        raise PayloadTooLarge(f"inflated request body exceeds the limit of {max_bytes} bytes")
    return inflated


def _check_datatypes(model: TFLiteModel, request: InferRequest) -> None:
    """Name the mismatch in OIP terms before the model's own check."""
    for name, declared in request.declared.items():
        expected = oip_datatype(model.input_spec(name).dtype)
        if declared != expected:
            raise InvalidInput(f"input '{name}': datatype {declared} does not match the model's {expected}")


async def run_inference(
    model: TFLiteModel, body: Body, header_length: str | None
) -> tuple[bytes, int | None]:
    """Parse, check, predict, encode: the one implementation both infer paths run
    (this router's route and api/fastpath.py). Returns (body, binary header length or None)."""
    parsed = parse_request(body, header_length)
    _check_datatypes(model, parsed)
    outputs = await model.predict(parsed.inputs, parsed.outputs or None)
    return encode_response(model.name, model.version, parsed, outputs)


def router(dataplane: DataPlane, max_body_bytes: int) -> APIRouter:
    api = APIRouter(tags=["open inference protocol v2"])

    @api.get("/v2/health/live")
    async def live() -> dict[str, bool]:
        return {"live": True}

    @api.get("/v2/health/ready")
    async def ready() -> JSON:
        ready = dataplane.ready
        return JSON({"ready": ready}, status_code=200 if ready else 503)

    @api.get("/v2")
    async def server_metadata() -> dict[str, object]:
        return dataplane.server_metadata()

    @api.get("/v2/models/{name}")
    @api.get("/v2/models/{name}/versions/{version}")
    async def metadata(name: str, version: str | None = None) -> dict[str, object]:
        return model_metadata(dataplane.model(name, version, need_ready=False))

    @api.get("/v2/models/{name}/config")
    @api.get("/v2/models/{name}/versions/{version}/config")
    async def config(name: str, version: str | None = None) -> dict[str, object]:
        model = dataplane.model(name, version, need_ready=False)
        return {
            "name": model.name,
            "platform": PLATFORM,
            "max_batch_size": 0,
            "input": [_triton_tensor(t) for t in model.inputs],
            "output": [_triton_tensor(t) for t in model.outputs],
        }

    @api.get("/v2/models/{name}/ready")
    @api.get("/v2/models/{name}/versions/{version}/ready")
    async def model_ready(name: str, version: str | None = None) -> JSON:
        model = dataplane.model(name, version, need_ready=False)
        ready = dataplane.model_ready(model)
        return JSON({"name": model.name, "ready": ready}, status_code=200 if ready else 503)

    # Served by api/fastpath.py when it is on (the default); this route stays the reference,
    # the OpenAPI description and the path taken when the fast path is off.
    @api.post(INFER_PATH, openapi_extra=openapi.infer())
    @api.post(INFER_VERSION_PATH, openapi_extra=openapi.infer())
    async def infer(name: str, request: Request, version: str | None = None) -> Response:
        model = dataplane.model(name, version)
        body = inflate(await request.body(), request.headers.get("content-encoding"), max_body_bytes)
        content, header_length = await run_inference(model, body, request.headers.get(HEADER_LENGTH))
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )

    return api
