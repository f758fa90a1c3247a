"""A small dict-in, dict-out client over the official `kubernetes` ApiClient.

Builders produce plain manifests; converting them to generated model classes
and back would only add ways to lose fields. Every call goes through
`Kube.request`, which retries transient failures (k8s/retry.py) and raises
`kubernetes.client.ApiException` on any other non-2xx answer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from mlmodel_operator import API_VERSION, FIELD_MANAGER
from mlmodel_operator.k8s.retry import RetryPolicy, retry_reason
from mlmodel_operator.metrics import API_REQUESTS

log = logging.getLogger("mlmodel_operator.kube")
# (connect, read) seconds. A read waits for etcd when it is slow, but not past the point
# where retrying the request on a fresh connection is the better bet.
REQUEST_TIMEOUT = (5.0, 30.0)

_CORE = {
    "Service": "services",
    "ConfigMap": "configmaps",
    "Pod": "pods",
    "Event": "events",
    "Endpoints": "endpoints",
}
_APPS = {"Deployment": "deployments", "ReplicaSet": "replicasets"}
_NETWORKING = {"NetworkPolicy": "networkpolicies"}
_AUTOSCALING = {"HorizontalPodAutoscaler": "horizontalpodautoscalers"}
_CUSTOM = {
    "ModelPackage": "modelpackages",
    "MLModelService": "mlmodelservices",
    "VisionService": "visionservices",
}


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    """`/api/v1/namespaces/ns/services` and friends, for the kinds the operator touches."""
    ns = quote(namespace, safe="")
    if api_version == "v1":
        return f"/api/v1/namespaces/{ns}/{_CORE[kind]}"
    if api_version == "apps/v1":
        return f"/apis/apps/v1/namespaces/{ns}/{_APPS[kind]}"
    if api_version == "networking.k8s.io/v1":
        return f"/apis/networking.k8s.io/v1/namespaces/{ns}/{_NETWORKING[kind]}"
    if api_version == "autoscaling/v2":
        return f"/apis/autoscaling/v2/namespaces/{ns}/{_AUTOSCALING[kind]}"
    if api_version == "discovery.k8s.io/v1" and kind == "EndpointSlice":
        return f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"
    if api_version == API_VERSION:
        return f"/apis/{API_VERSION}/namespaces/{ns}/{_CUSTOM[kind]}"
    raise ValueError(f"unsupported apiVersion/kind {api_version}/{kind}")


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    return f"{collection_path(api_version, kind, namespace)}/{quote(name, safe='')}"


def failure_text(exc: BaseException) -> str:
    """A failed request in one line: urllib3 wraps the cause (refused, timed out, TLS) and
    prefixes it with a connection object's repr, which says nothing the URL does not."""
    reason = getattr(exc, "reason", None)
    cause = reason if isinstance(reason, BaseException) else exc
    text = " ".join(str(cause).split())
    if "Connection" in text.split(": ", 1)[0]:
        text = text.split(": ", 1)[-1]
    return f"{type(cause).__name__}: {text}"[:300]


def is_not_found(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404


def is_namespace_terminating(exc: BaseException) -> bool:
    """Writes into a namespace being deleted are refused; there is nothing left to do."""
    return getattr(exc, "status", None) == 403 and "NamespaceTerminating" in str(
        getattr(exc, "body", "") or ""
    )


class Kube:
    """Thin, synchronous; the operator calls it from kopf's worker threads.

    `retries` counts the retried failures by reason (`409`, `503`, `timeout`, ...): the
    reliability tests and the logs report them.
    """

    def __init__(
        self,
        api_client: Any,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        source: str = "",
    ) -> None:
        self.api = api_client
        self.source = source  # where the API server's address came from, for the logs
        self.policy = policy or RetryPolicy()
        # Set at shutdown: a backoff wait ends at once and no further attempt is made.
        self.stopping = threading.Event()
        self._sleep, self._monotonic = sleep or self.stopping.wait, monotonic
        self.retries: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    @classmethod
    def from_environment(cls, pool_size: int = 12) -> Kube:
        """In-cluster service account, else KUBECONFIG / ~/.kube/config.

        urllib3's own retries are switched off: they retry at once, without backoff, and
        out of sight; `request` is the one place that retries, waits and counts. The
        connection pool is sized for the reconcile threads, so none opens a fresh
        connection per request.
        """
        from kubernetes import client, config

        try:
            config.load_incluster_config()
            source = "in-cluster: the kubernetes Service, KUBERNETES_SERVICE_HOST/PORT"
        except config.ConfigException:
            config.load_kube_config()
            source = "kubeconfig"
        configuration = client.Configuration.get_default_copy()
        configuration.retries = False
        configuration.connection_pool_maxsize = pool_size
        return cls(client.ApiClient(configuration), source=source)

    @property
    def server(self) -> str:
        """The API server as log lines about reaching it name it: URL and where it came from."""
        host = str(self.api.configuration.host)
        return f"{host} ({self.source})" if self.source else host

    def probe(self, path: str = "/version") -> str | None:
        """None if the API server answers `GET path`, else what went wrong, in one line.

        One attempt, and not counted in `mlmodel_operator_api_requests_total`, which counts
        the reconciles' requests: the readiness check (readiness.py) calls it every few
        seconds, whatever the reconciles do.
        """
        try:
            resp = self._exchange("GET", path, None, None, "application/json")
        except Exception as exc:
            return failure_text(exc)
        return None if 200 <= resp.status < 300 else f"HTTP {resp.status} for GET {path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        """One API call, retried while the failure is transient (see k8s/retry.py)."""
        started, retry = self._monotonic(), 0
        while True:
            try:
                return self._send(method, path, query, body, content_type)
            except Exception as exc:
                reason = retry_reason(method, exc)
                retry += 1
                if not self._may_retry(reason, retry, started):
                    raise
                self._count(reason or "")
                wait = self.policy.delay(retry)
                log.warning(
                    "retrying %s %s after %s (retry %d/%d in %.2fs)",
                    method,
                    path,
                    reason,
                    retry,
                    self.policy.attempts - 1,
                    wait,
                )
                self._sleep(wait)
                if self.stopping.is_set():
                    raise

    def _may_retry(self, reason: str | None, retry: int, started: float) -> bool:
        return (
            reason is not None
            and retry < self.policy.attempts
            and self._monotonic() - started < self.policy.deadline
            and not self.stopping.is_set()
        )

    def _count(self, reason: str) -> None:
        with self._count_lock:
            self.retries[reason] += 1

    def _send(
        self, method: str, path: str, query: dict[str, str] | None, body: Any, content_type: str
    ) -> Any:
        from kubernetes.client import ApiException

        try:
            resp = self._exchange(method, path, query, body, content_type)
        except Exception:
            API_REQUESTS.labels(method, "error").inc()
            raise
        API_REQUESTS.labels(method, str(resp.status)).inc()
        data = resp.read()
        text = data.decode() if isinstance(data, bytes) else str(data or "")
        if not 200 <= resp.status < 300:
            raise ApiException.from_response(http_resp=resp, body=text, data=None)
        return json.loads(text) if text else None

    def _exchange(
        self, method: str, path: str, query: dict[str, str] | None, body: Any, content_type: str
    ) -> Any:
        """The HTTP request itself, authenticated; the response whatever its status."""
        url = self.api.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "Content-Type": content_type}
        self.api.update_params_for_auth(headers, None, ["BearerToken"], path, method, body)
        return self.api.rest_client.request(
            method, url, headers=headers, body=body, _request_timeout=REQUEST_TIMEOUT
        )

    def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        from kubernetes.client import ApiException

        try:
            return self.request("GET", path)
        except ApiException as exc:
            if is_not_found(exc):
                return None
            raise

    def list(
        self, path: str, label_selector: str | None = None, from_cache: bool = False
    ) -> list[dict[str, Any]]:
        """`from_cache`: resourceVersion=0, served from the API server's watch cache.

        Such a list may lag the newest write by milliseconds but costs etcd nothing; use it
        where a later watch event triggers another pass anyway (pods for status).
        """
        query = {"labelSelector": label_selector} if label_selector else {}
        if from_cache:
            query["resourceVersion"] = "0"
        return list((self.request("GET", path, query=query or None) or {}).get("items") or [])

    def apply(self, obj: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
        """THE write helper for children: server-side apply, our field manager, force.

        Apply is idempotent (an unchanged manifest is a no-op that does not
        bump resourceVersion), creates missing objects, and takes back fields
        someone edited by hand, which is exactly drift repair. Another `manager`
        owns fields apart from the children's manifests (an autoscaled Deployment's
        replicas, handlers/autoscaling.py).
        """
        meta = obj["metadata"]
        path = object_path(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        query = {"fieldManager": manager, "force": "true"}
        return self.request("PATCH", path, query=query, body=obj, content_type="application/apply-patch+yaml")

    def patch_status(self, owner: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """Merge-patch the status subresource; the operator never writes `spec`."""
        from kubernetes.client import ApiException

        meta = owner["metadata"]
        path = object_path(owner["apiVersion"], owner["kind"], meta["namespace"], meta["name"])
        try:
            return self.request(
                "PATCH",
                path + "/status",
                body={"status": status},
                content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if is_not_found(exc):
                return None  # deleted while we were reconciling
            raise
