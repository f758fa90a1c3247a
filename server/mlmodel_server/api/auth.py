"""Optional bearer-token authentication of the inference endpoints.

Off unless a token is configured. Health, metrics and the test page itself stay
open, so probes and Prometheus need no secret; everything that touches a model
needs `Authorization: Bearer <token>`, compared in constant time.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset(
    {"/", "/metrics", "/ping", "/health", "/version", "/v2/health/live", "/v2/health/ready"}
)


log = logging.getLogger("mlmodel_server.auth")


class TokenFile:
    """The token of a file that may change while the server runs.

    A mounted Secret is updated in place by the kubelet (a new directory behind the
    `..data` symlink), so a rotated token takes effect without restarting the pods. The
    file is stat-ed at most every `recheck` seconds; a file that became unreadable or
    empty keeps the previous token, so a botched rotation never opens the server.
    """

    def __init__(
        self,
        path: str,
        token: str | None = None,
        recheck: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.recheck, self.clock = path, recheck, clock
        self.token = token if token is not None else read_token(path)
        self._stamp = self._stat()
        self._checked = clock()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def current(self) -> str:
        now = self.clock()
        if now - self._checked < self.recheck:
            return self.token
        self._checked = now
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return self.token
        try:
            self.token = read_token(self.path)
            self._stamp = stamp
            log.info("auth token reloaded from %s", self.path)
        except ValueError as exc:
            log.warning("keeping the previous auth token: %s", exc)
        return self.token


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, token: str | TokenFile) -> None:
        self.app = app
        self.source = token

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
        return bearer_matches(dict(scope["headers"]).get(b"authorization", b""), self.source)


def bearer_matches(given: bytes, source: str | TokenFile) -> bool:
    """Whether an Authorization value (HTTP header or gRPC metadata) carries the token."""
    token = source if isinstance(source, str) else source.current()
    return hmac.compare_digest(given, f"Bearer {token}".encode())


def token_source(token: str | None, path: str | None) -> str | TokenFile | None:
    """The token to require (None: no auth), re-read from its file when it came from one."""
    if not token:
        return None
    return TokenFile(path, token) if path else token


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
