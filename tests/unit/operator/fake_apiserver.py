"""A scripted API server behind `Kube`'s httpx2 client, for retry tests.

`FakeApiServer` is an httpx2 client over a mock transport, so `Kube(api)` keeps everything
above the transport real: the status and error mapping (`ApiError`), the retry loop, the
reconcile. Objects live in a dict by path; `faults` queues answers (an HTTP status or an
exception, e.g. httpx2.ConnectError) that come before the real one.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from typing import Any

import httpx2

HOST = "https://apiserver.test"
COLLECTIONS = frozenset(
    {"pods", "deployments", "services", "configmaps", "networkpolicies"}
    | {"modelpackages", "mlmodelservices", "visionservices"}
)


def answer(status: int, body: Any = None) -> httpx2.Response:
    return httpx2.Response(status, json=body) if body is not None else httpx2.Response(status)


class FakeApiServer(httpx2.Client):
    """Serves GET/LIST/PATCH of plain objects; records every request as (method, path)."""

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        super().__init__(base_url=HOST, transport=httpx2.MockTransport(self.handle))
        self.objects: dict[str, dict[str, Any]] = dict(objects or {})
        self.faults: dict[tuple[str, str], deque[Any]] = defaultdict(deque)
        self.requests: list[tuple[str, str]] = []

    def fail(self, method: str, path: str, *answers: Any) -> None:
        """Queue failures for (method, path): ints are HTTP statuses, others are raised."""
        self.faults[(method, path)].extend(answers)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        method, path = request.method, request.url.path
        self.requests.append((method, path))
        queued = self.faults.get((method, path))
        if queued:
            fault = queued.popleft()
            if isinstance(fault, BaseException):
                raise fault
            return answer(fault, {"kind": "Status", "code": fault, "message": "injected"})
        body = json.loads(request.content) if request.content else None
        return self._serve(method, path, body)

    def _serve(self, method: str, path: str, body: Any) -> httpx2.Response:
        if method == "GET":
            return self._get(path)
        if method == "PATCH" and path.endswith("/status"):
            owner = self.objects.get(path.removesuffix("/status"))
            if owner is None:
                return answer(404, {"kind": "Status", "code": 404})
            owner["status"] = {**(owner.get("status") or {}), **body["status"]}
            return answer(200, owner)
        if method == "PATCH":  # server-side apply: the manifest becomes the object
            self.objects[path] = {**body, "status": (self.objects.get(path) or {}).get("status", {})}
            return answer(200, self.objects[path])
        return answer(200, {})

    def _get(self, path: str) -> httpx2.Response:
        if path in self.objects:
            return answer(200, self.objects[path])
        prefix = path + "/"
        items = [o for p, o in self.objects.items() if p.startswith(prefix) and "/" not in p[len(prefix) :]]
        if path.rsplit("/", 1)[-1] in COLLECTIONS:
            return answer(200, {"items": items})
        return answer(404, {"kind": "Status", "code": 404})

    def count(self, method: str, suffix: str = "") -> int:
        return sum(1 for m, p in self.requests if m == method and p.endswith(suffix))
