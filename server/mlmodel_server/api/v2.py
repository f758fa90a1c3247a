"""Open Inference Protocol v2 (KServe/Triton REST), with the binary tensor extension.

Routes only: every step (look-up, inflate, decode, checks, inference, metadata, encode)
is the dataplane's, shared with the fast path and gRPC.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ..codecs.oip import HEADER_LENGTH
from ..dataplane import DataPlane
from . import openapi
from .responses import JSON

INFER_PATH = "/v2/models/{name}/infer"
INFER_VERSION_PATH = "/v2/models/{name}/versions/{version}/infer"


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

    # Before /v2/models/{name}, which would take "stats" for a model name.
    @api.get("/v2/models/stats")
    async def all_statistics() -> dict[str, object]:
        return dataplane.model_statistics()

    @api.get("/v2/models/{name}/stats")
    @api.get("/v2/models/{name}/versions/{version}/stats")
    async def statistics(name: str, version: str | None = None) -> dict[str, object]:
        return dataplane.model_statistics(name, version)

    @api.get("/v2/models/{name}")
    @api.get("/v2/models/{name}/versions/{version}")
    async def metadata(name: str, version: str | None = None) -> dict[str, object]:
        return dataplane.model_metadata(name, version)

    @api.get("/v2/models/{name}/config")
    @api.get("/v2/models/{name}/versions/{version}/config")
    async def config(name: str, version: str | None = None) -> dict[str, object]:
        return dataplane.model_config(name, version)

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
        content, header_length = await dataplane.infer_rest(
            model,
            await request.body(),
            request.headers.get("content-encoding"),
            request.headers.get(HEADER_LENGTH),
            max_body_bytes,
        )
        if header_length is None:
            return Response(content, media_type="application/json")
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Inference-Header-Content-Length": str(header_length)},
        )

    return api
