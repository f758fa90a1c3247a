"""The three API calls the activator makes, over aiohttp (no blocking client in its loop):
list the Services led to it, list a service's pods, record a wake request in status."""

from __future__ import annotations

import json
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

from mlmodel_activator.routing import ROUTE_LABEL, Route

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
API_GROUP = "mlmodel.dev/v1alpha1"


@dataclass(frozen=True)
class ApiAccess:
    """Where the API server is and how to authenticate: in-cluster by default."""

    url: str
    token_file: Path | None
    ca_file: Path | None

    @classmethod
    def resolve(cls, url: str | None) -> ApiAccess:
        """`url` given (tests, out of cluster): no credentials; else the pod's own."""
        if url:
            return cls(url.rstrip("/"), None, None)
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
        if not host:
            raise ValueError("not in a cluster (no KUBERNETES_SERVICE_HOST): pass --kube-api URL")
        host = f"[{host}]" if ":" in host else host
        return cls(f"https://{host}:{port or 443}", SA_DIR / "token", SA_DIR / "ca.crt")


class Kube:
    def __init__(self, access: ApiAccess, session: aiohttp.ClientSession) -> None:
        self.access, self.session = access, session
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(access.ca_file)) if access.ca_file else True
        )

    def _headers(self) -> dict[str, str]:
        # Read per call: projected service-account tokens are rotated on disk.
        if self.access.token_file is None:
            return {}
        return {"Authorization": f"Bearer {self.access.token_file.read_text().strip()}"}

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.access.url + path
        async with self.session.request(method, url, headers=self._headers(), ssl=self._ssl, **kwargs) as r:
            r.raise_for_status()
            return dict(await r.json())

    async def services(self) -> list[dict[str, Any]]:
        answer = await self._call("GET", "/api/v1/services", params={"labelSelector": ROUTE_LABEL})
        return list(answer.get("items") or [])

    async def pods(self, route: Route) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{quote(route.namespace)}/pods"
        answer = await self._call("GET", path, params={"labelSelector": route.pod_selector})
        return list(answer.get("items") or [])

    async def wake(self, route: Route) -> bool:
        """Record a wake of the stop the owner's status reports; False if it is not stopped.

        Only status is written: the spec is the user's, so GitOps sees no drift. The request
        names the stop it ends (`wakeRequestedFor` = `stopTime`), so the operator compares
        no clocks of two machines, and a wake never ends a later stop.
        """
        path = (
            f"/apis/{API_GROUP}/namespaces/{quote(route.namespace)}/"
            f"{quote(route.owner_plural)}/{quote(route.owner_name)}"
        )
        stop_time = ((await self._call("GET", path)).get("status") or {}).get("stopTime")
        if not stop_time:
            return False
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps({"status": {"wakeRequestedAt": now, "wakeRequestedFor": stop_time}})
        headers = {**self._headers(), "Content-Type": "application/merge-patch+json"}
        url = self.access.url + path + "/status"
        async with self.session.patch(url, data=body, headers=headers, ssl=self._ssl) as r:
            r.raise_for_status()
        return True
