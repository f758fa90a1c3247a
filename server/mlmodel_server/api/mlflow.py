"""MLflow-style scoring (`mlflow models serve`): /ping, /health, /version, /invocations."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from .. import __version__
from ..codecs.mlflow import MalformedRequest, decode_body
from ..dataplane import DataPlane
from ..errors import UnsupportedMediaType
from . import openapi
from .errors import error_response
from .responses import JSON


def _check_content_type(header: str) -> None:
    """JSON in UTF-8 only, as MLflow reads it (its CSV and Parquet bodies are not served)."""
    media, *parameters = (part.strip() for part in header.split(";"))
    if media.lower() != "application/json":
        raise UnsupportedMediaType(
            f"Content-Type '{media or 'none'}' is not supported; send application/json"
        )
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() != "charset" or value.strip().strip('"').lower() != "utf-8":
            raise UnsupportedMediaType(
                f"Content-Type parameter '{parameter}' is not supported; send UTF-8 JSON"
            )


def router(dataplane: DataPlane) -> APIRouter:
    api = APIRouter(tags=["mlflow scoring"])

    @api.get("/ping")
    @api.get("/health")
    async def ping() -> Response:
        """MLflow's answer: a newline labelled JSON, 200 when ready, else 404."""
        return Response("\n", status_code=200 if dataplane.ready else 404, media_type="application/json")

    @api.get("/version")
    async def version() -> Response:
        """The server's version, as MLflow answers its own: the bare string, labelled JSON."""
        return Response(__version__, media_type="application/json")

    @api.post("/invocations", openapi_extra=openapi.invocations())
    async def invocations(request: Request) -> JSON:
        _check_content_type(request.headers.get("content-type", ""))
        model = dataplane.default_model()
        try:
            inputs = decode_body(model, await request.body())
        except MalformedRequest as exc:
            # MLflow's code for a body it cannot read; one that does not fit the signature gets
            # INVALID_PARAMETER_VALUE, api/errors.py's code for every other 400 here.
            return error_response(request, 400, exc.message, "BAD_REQUEST")
        outputs = await model.predict(inputs)
        arrays = list(outputs.values())
        return JSON({"predictions": arrays[0] if len(arrays) == 1 else outputs})

    return api
