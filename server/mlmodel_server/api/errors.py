"""The one place where errors become HTTP responses.

`HTTP_STATUS` decides the status of each kind of domain error. Each protocol keeps
its own error shape: `{"error": ...}` for the Open Inference Protocol and our own
endpoints, `{"error_code", "message"}` for the MLflow scoring routes.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from ..errors import (
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    ServingError,
    UnsupportedMediaType,
)
from .responses import JSON

HTTP_STATUS: dict[type[ServingError], int] = {
    InvalidInput: 400,
    ModelNotFound: 404,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    ModelNotReady: 503,
}

MLFLOW_PATHS = ("/invocations", "/ping", "/health", "/version")
MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    422: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def http_status(exc: ServingError) -> int:
    """The status of a domain error, by its nearest class in HTTP_STATUS."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def error_response(request: Request, status: int, message: str, mlflow_code: str | None = None) -> JSON:
    if request.url.path in MLFLOW_PATHS:
        code = mlflow_code or MLFLOW_CODES.get(status, "INTERNAL_ERROR")
        return JSON({"error_code": code, "message": message}, status_code=status)
    return JSON({"error": message}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a protocol-shaped body."""

    @app.exception_handler(ServingError)
    async def serving_error(request: Request, exc: ServingError) -> JSON:
        status = http_status(exc)
        mlflow_code = "INVALID_PARAMETER_VALUE" if status == 400 else None
        return error_response(request, status, exc.message, mlflow_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSON:
        return error_response(request, 422, _validation_message(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSON:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path[:200]}"
        return error_response(request, exc.status_code, message)
