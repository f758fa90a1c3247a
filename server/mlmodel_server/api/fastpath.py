"""A lean ASGI path for the two Open Inference Protocol infer routes, the server's hot path.

Why: around a binary infer request's ~4.4 ms invoke, the FastAPI route spent ~0.18 ms of
event-loop CPU (in process, invoke stubbed out) on Starlette's exception and exit-stack
layers, routing by regex over every route, dependency resolution, Request and Response
objects, and a body joined from its receive() chunks and sliced again by the codec; this
path spends ~0.05 ms. `InferFastPath` recognises exactly `POST /v2/models/{name}/infer` and
`POST /v2/models/{name}/versions/{version}/infer` and answers them itself, with the dataplane
steps the FastAPI route runs (`DataPlane.model`, `DataPlane.infer_rest`) and the same error
bodies; every other request goes on to FastAPI unchanged.

It is the innermost of our pure-ASGI middlewares, so the metrics, the bearer-token check and
the body limit around it are the very same code for both paths, and it sets `scope["route"]`
to the FastAPI route object as FastAPI's router does, so metrics carry the same route label.
The FastAPI route stays registered: /openapi.json and schemathesis describe it, and with
`HttpSettings(fast_path=False)` it serves the requests (the tests compare both byte for byte).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from ..codecs.oip import HEADER_LENGTH
from ..dataplane import DataPlane
from ..errors import ServingError
from . import v2
from .errors import http_status
from .responses import JSON

PREFIX, SUFFIX = "/v2/models/", "/infer"
UNKNOWN_SIZE_START = 64 * 1024  # first buffer for a body without Content-Length (chunked)
Headers = list[tuple[bytes, bytes]]
Match = tuple[APIRoute, str, str | None]  # (FastAPI route, model name, version or None)


def infer_routes(routes: Iterable[BaseRoute]) -> tuple[APIRoute, APIRoute]:
    """The infer routes of `v2.router` (unversioned, versioned), whose objects label the fast
    path's requests, so the metrics cannot tell the two paths apart."""
    found = {r.path: r for r in routes if isinstance(r, APIRoute) and "POST" in (r.methods or ())}
    return found[v2.INFER_PATH], found[v2.INFER_VERSION_PATH]


class InferFastPath:
    """Pure ASGI middleware: serves the infer routes, passes everything else through."""

    def __init__(
        self, app: ASGIApp, dataplane: DataPlane, max_body_bytes: int, routes: tuple[APIRoute, APIRoute]
    ) -> None:
        self.app = app
        self.dataplane = dataplane
        self.max_body_bytes = max_body_bytes
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.match(scope)
        if found is None:
            await self.app(scope, receive, send)
            return
        route, name, version = found
        scope["route"] = route  # what FastAPI's router sets: the metrics' route label
        try:
            await self.infer(scope, receive, send, name, version)
        except ServingError as exc:  # what api/errors.py answers for the OIP routes
            await JSON({"error": exc.message}, status_code=http_status(exc))(scope, receive, send)

    def match(self, scope: Scope) -> Match | None:
        """The route and its parameters, matched as Starlette's `[^/]+` path parameters
        are; None for anything else, including requests under a root_path (FastAPI's)."""
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return None
        path: str = scope["path"]
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        parts = path[len(PREFIX) : -len(SUFFIX)].split("/")
        if len(parts) == 1 and parts[0]:
            return self.routes[0], parts[0], None
        if len(parts) == 3 and parts[0] and parts[1] == "versions" and parts[2]:
            return self.routes[1], parts[0], parts[2]
        return None

    async def infer(self, scope: Scope, receive: Receive, send: Send, name: str, version: str | None) -> None:
        """The FastAPI route's steps in its order: the model first, so a 404 reads no body."""
        model = self.dataplane.model(name, version)
        headers: Headers = scope["headers"]
        raw = await read_body(receive, self._size_hint(headers))
        content, header_length = await self.dataplane.infer_rest(
            model,
            raw,
            header(headers, b"content-encoding"),
            header(headers, HEADER_BYTES),
            self.max_body_bytes,
        )
        start = {"type": "http.response.start", "status": 200, "headers": ok_headers(content, header_length)}
        await send(start)
        await send({"type": "http.response.body", "body": content})

    def _size_hint(self, headers: Headers) -> int | None:
        """Content-Length, when it is a number within the limit (the body limit middleware
        refuses larger ones; the hint only sizes the buffer, never trusted for framing)."""
        declared = raw_header(headers, b"content-length")
        if declared is None or not declared.isdigit() or int(declared) > self.max_body_bytes:
            return None  # bytes.isdigit() is ASCII only, as in BodyLimitMiddleware
        return int(declared)


HEADER_BYTES = HEADER_LENGTH.encode("latin-1")


def header(headers: Headers, name: bytes) -> str | None:
    """A request header as Starlette's `request.headers.get` reads it: the first one, latin-1."""
    value = raw_header(headers, name)
    return None if value is None else value.decode("latin-1")


def raw_header(headers: Headers, name: bytes) -> bytes | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def ok_headers(content: bytes, header_length: int | None) -> Headers:
    """The headers Starlette's Response gives the FastAPI route's answer, in its order."""
    length = (b"content-length", str(len(content)).encode("latin-1"))
    if header_length is None:
        return [length, (b"content-type", b"application/json")]
    binary = (b"inference-header-content-length", str(header_length).encode("latin-1"))
    return [binary, length, (b"content-type", b"application/octet-stream")]


async def read_body(receive: Receive, size: int | None) -> memoryview:
    """The whole body as one memoryview, with as few copies as the messages allow.

    Why: a 602 KB body used to be joined from its chunks and then sliced again by the codec,
    two copies more than needed. A body that comes in one message (the usual case, see
    `server.raise_receive_high_water`) is viewed where it is; one in several is received in
    place into a buffer sized from Content-Length. Messages are handled as Starlette's
    `Request.stream` does: a disconnect raises ClientDisconnect, other types are skipped.
    """
    buffer = BodyBuffer(size)
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                return buffer.finish(chunk)
            buffer.write(chunk)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect()


class BodyBuffer:
    """Bytes written in place: pre-sized from Content-Length, doubling past it.

    `np.empty`, not `bytearray(n)`: its pages are committed only as data arrives, so a client
    that announces a large body and sends little costs what it sent, as with a chunk list.
    A size that turns out wrong (chunked or lying framing) still yields exactly the bytes sent.
    """

    def __init__(self, size: int | None) -> None:
        self._size = UNKNOWN_SIZE_START if size is None else size
        self._data: np.ndarray | None = None  # allocated by the first write, if any
        self._used = 0

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        end = self._used + len(chunk)
        if self._data is None or end > len(self._data):
            grown = np.empty(max(end, self._size, 2 * self._used), dtype=np.uint8)
            if self._data is not None:
                grown[: self._used] = self._data[: self._used]
            self._data = grown
        self._data.data[self._used : end] = chunk
        self._used = end

    def finish(self, chunk: bytes) -> memoryview:
        """The body, given its last chunk: that chunk itself when it is the whole body."""
        if self._data is None:
            return memoryview(chunk)
        self.write(chunk)
        return self._data.data[: self._used]
