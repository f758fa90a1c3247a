"""Optional bearer-token authentication of the inference endpoints.

Off unless a token is configured. Health, metrics and the test page itself stay
open, so probes and Prometheus need no secret; everything that touches a model
needs `Authorization: Bearer <token>`, compared in constant time.
"""

from __future__ import annotations

import hmac

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset(
    {"/", "/metrics", "/ping", "/health", "/version", "/v2/health/live", "/v2/health/ready"}
)


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        body = orjson.dumps({"error": "missing or invalid bearer token"})
        headers = [
            (b"content-type", b"application/json"),
            (b"www-authenticate", b'Bearer realm="mlmodel"'),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _authorised(self, scope: Scope) -> bool:
        given = dict(scope["headers"]).get(b"authorization", b"")
        return hmac.compare_digest(given, self.expected)


def read_token(path: str) -> str:
    """The token file's first line (a mounted Secret key); empty files are an error."""
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.readline().strip()
    except OSError as exc:
        raise ValueError(f"cannot read auth token file {path}: {exc.strerror or exc}") from exc
    if not token:
        raise ValueError(f"auth token file {path} is empty")
    return token
