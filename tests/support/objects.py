"""Dict-in, dict-out access to one namespace for the cluster and e2e tiers.

Why the operator's own thin client: the tests then read and write objects the way the
operator does, with no second client library's defaults in between.
"""

from __future__ import annotations

from typing import Any, Protocol

from localcluster import wait_until
from mlmodel_operator.k8s.client import Kube, collection_path, object_path


class Watched(Protocol):
    """Whatever the waits should fail fast on (an operator process, an operator pod)."""

    def check_alive(self) -> None: ...


API = "mlmodel.dev/v1alpha1"
TIMEOUT = 60


class Objects:
    """Dict-in, dict-out access to one namespace (the operator's own thin client)."""

    def __init__(self, kube: Kube, namespace: str, op: Watched | None = None):
        self.kube, self.ns, self.op = kube, namespace, op

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        body = {**obj, "metadata": {**obj["metadata"], "namespace": self.ns}}
        return self.kube.request("POST", collection_path(obj["apiVersion"], obj["kind"], self.ns), body=body)  # type: ignore[no-any-return]

    def get(self, kind: str, name: str, api: str = API) -> dict[str, Any] | None:
        return self.kube.get(object_path(api, kind, self.ns, name))

    def list(self, kind: str, api: str = "v1", selector: str | None = None) -> list[dict]:
        return self.kube.list(collection_path(api, kind, self.ns), selector)

    def patch(
        self, kind: str, name: str, body: dict[str, Any], api: str = API, subresource: str = ""
    ) -> dict[str, Any]:
        path = object_path(api, kind, self.ns, name) + subresource
        return self.kube.request(
            "PATCH",
            path,
            body=body,  # type: ignore[no-any-return]
            content_type="application/merge-patch+json",
        )

    def delete(self, kind: str, name: str, api: str = API) -> None:
        self.kube.request("DELETE", object_path(api, kind, self.ns, name))

    def wait(self, condition: Any, what: str, timeout: float = TIMEOUT) -> Any:
        check = self.op.check_alive if self.op else None
        return wait_until(condition, what=what, timeout=timeout, interval=0.3, check=check)

    def status(self, kind: str, name: str) -> dict[str, Any]:
        return dict((self.get(kind, name) or {}).get("status") or {})

    def condition(self, kind: str, name: str, type_: str) -> dict[str, Any]:
        conds = self.status(kind, name).get("conditions") or []
        return next((c for c in conds if c.get("type") == type_), {})

    def wait_phase(self, kind: str, name: str, phase: str, timeout: float = TIMEOUT) -> dict:
        return self.wait(
            lambda: (s := self.status(kind, name)).get("phase") == phase and s,
            f"{kind}/{name} phase {phase} (now {self.status(kind, name)})",
            timeout,
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.list("Event") if e["involvedObject"]["name"] == name]
