"""A scripted stand-in for the `kubernetes` ApiClient under `Kube`, for retry tests.

`Kube` only uses `configuration.host`, `update_params_for_auth` and
`rest_client.request(...)`, so this fake replaces the transport (the urllib3
pool) and keeps everything above it real: `ApiException.from_response`, the
retry loop, the reconcile. Objects live in a dict by path; `faults` queues
answers (an HTTP status or an exception) that come before the real one.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any
from urllib.parse import urlsplit

HOST = "https://apiserver.test"
COLLECTIONS = frozenset(
    {"pods", "deployments", "services", "configmaps", "networkpolicies"}
    | {"modelpackages", "mlmodelservices", "visionservices"}
)


class FakeResponse:
    """What `rest_client.request` returns: status, reason, headers, `read()`."""

    def __init__(self, status: int, body: Any = None) -> None:
        self.status = status
        self.reason = {200: "OK", 404: "Not Found", 409: "Conflict"}.get(status, "Error")
        self.data = b"" if body is None else json.dumps(body).encode()
        self.headers: dict[str, str] = {"Content-Type": "application/json"}

    def read(self) -> bytes:
        return self.data

    def getheaders(self) -> dict[str, str]:
        return self.headers


class _Configuration:
    host = HOST


class FakeApiServer:
    """Serves GET/LIST/PATCH of plain objects; records every request as (method, path)."""

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        self.objects: dict[str, dict[str, Any]] = dict(objects or {})
        self.faults: dict[tuple[str, str], deque[Any]] = defaultdict(deque)
        self.requests: list[tuple[str, str]] = []
        self.configuration = _Configuration()
        self.rest_client = self

    def fail(self, method: str, path: str, *answers: Any) -> None:
        """Queue failures for (method, path): ints are HTTP statuses, others are raised."""
        self.faults[(method, path)].extend(answers)

    def update_params_for_auth(self, *args: Any) -> None:
        pass

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        path = urlsplit(url).path
        self.requests.append((method, path))
        queued = self.faults.get((method, path))
        if queued:
            answer = queued.popleft()
            if isinstance(answer, BaseException):
                raise answer
            return FakeResponse(answer, {"kind": "Status", "code": answer, "message": "injected"})
        return self._serve(method, path, kwargs.get("body"))

    def _serve(self, method: str, path: str, body: Any) -> FakeResponse:
        if method == "GET":
            return self._get(path)
        if method == "PATCH" and path.endswith("/status"):
            owner = self.objects.get(path.removesuffix("/status"))
            if owner is None:
                return FakeResponse(404, {"kind": "Status", "code": 404})
            owner["status"] = {**(owner.get("status") or {}), **body["status"]}
            return FakeResponse(200, owner)
        if method == "PATCH":  # server-side apply: the manifest becomes the object
            self.objects[path] = {**body, "status": (self.objects.get(path) or {}).get("status", {})}
            return FakeResponse(200, self.objects[path])
        return FakeResponse(200, {})

    def _get(self, path: str) -> FakeResponse:
        if path in self.objects:
            return FakeResponse(200, self.objects[path])
        prefix = path + "/"
        items = [o for p, o in self.objects.items() if p.startswith(prefix) and "/" not in p[len(prefix) :]]
        if path.rsplit("/", 1)[-1] in COLLECTIONS:
            return FakeResponse(200, {"items": items})
        return FakeResponse(404, {"kind": "Status", "code": 404})

    def count(self, method: str, suffix: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and p.endswith(suffix))
