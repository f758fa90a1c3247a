"""A small dict-in, dict-out client over lightkube's connection to the API server.

Builders produce plain manifests; converting them to generated model classes
and back would only add ways to lose fields, so the operator speaks in API paths
and dicts. lightkube supplies what is easy to get wrong and the same for every
client: kubeconfig and in-cluster configuration, TLS and client certificates,
the bearer token (re-read from the service account's file when a 401 says it
was rotated), exec plugins, and a pooled httpx2 client. Its typed resource
methods are not used: they have no delete preconditions and no list from the
watch cache (resourceVersion=0), which the operator relies on. Every call goes
through `Kube.request`, which retries transient failures (k8s/retry.py) and
raises `ApiError`, this module's own type, on any other non-2xx answer.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from mlmodel_operator import API_VERSION, FIELD_MANAGER
from mlmodel_operator.k8s.retry import RetryPolicy, retry_reason
from mlmodel_operator.metrics import API_REQUESTS

if TYPE_CHECKING:
    import httpx2
    from lightkube import KubeConfig, SingleConfig

log = logging.getLogger("mlmodel_operator.kube")
# Seconds. A read waits for etcd when it is slow, but not past the point where retrying the
# request on a fresh connection is the better bet; a connection that is not up in 5 s is not
# coming.
CONNECT_TIMEOUT, READ_TIMEOUT = 5.0, 30.0

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
    """A failed request in one line: the exception's type names the cause (ConnectError,
    ReadTimeout, ...), its text the details; long TLS errors are cut."""
    text = " ".join(str(exc).split()) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:300]


class ApiError(Exception):
    """A non-2xx answer of the API server: the one exception callers catch.

    The project's own type rather than lightkube's `ApiError`: that one's `status` is a decoded
    Status object and it needs a JSON body, which a proxy's or a restarting apiserver's 502/503
    page does not have. Callers compare `status` with an HTTP code; `body` is the answer as
    sent (a refused write's Status says why, e.g. NamespaceTerminating).
    """

    def __init__(self, status: int, reason: str = "", body: str = "", method: str = "", path: str = ""):
        self.status, self.reason, self.body = status, reason, body
        self.method, self.path = method, path
        super().__init__(f"HTTP {status} {reason} for {method} {path}: {_status_message(body)}".strip())

    @classmethod
    def from_response(cls, method: str, path: str, resp: httpx2.Response) -> ApiError:
        return cls(resp.status_code, resp.reason_phrase, resp.text, method, path)


def _status_message(body: str) -> str:
    """The `message` of a Status answer, else the start of whatever was sent."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else " ".join(body.split())[:200]


def kubeconfig_path(env: Mapping[str, str]) -> str:
    """The first entry of KUBECONFIG (a list, like PATH), else ~/.kube/config."""
    paths = [p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return paths[0] if paths else "~/.kube/config"


def _current(config: KubeConfig) -> SingleConfig:
    """The current context; lightkube raises ConfigError when there is none."""
    single = config.get()
    assert single is not None  # get() without a default returns a context or raises
    return single


def is_not_found(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404


def is_namespace_terminating(exc: BaseException) -> bool:
    """Writes into a namespace being deleted are refused; there is nothing left to do."""
    return getattr(exc, "status", None) == 403 and "NamespaceTerminating" in str(
        getattr(exc, "body", "") or ""
    )


class Kube:
    """Thin, synchronous; the operator calls it from kopf's worker threads.

    `http` is an httpx2 client whose base URL is the API server and which authenticates every
    request (`from_config` builds one from a lightkube configuration; tests hand in one over a
    mock transport). `config` is that configuration, kept for kopf's login (k8s/login.py).
    `retries` counts the retried failures by reason (`409`, `503`, `timeout`, ...): the
    reliability tests and the logs report them.
    """

    def __init__(
        self,
        http: httpx2.Client,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        source: str = "",
        config: SingleConfig | None = None,
    ) -> None:
        self.http = http
        self.config = config
        self.source = source  # where the API server's address came from, for the logs
        self.policy = policy or RetryPolicy()
        # Set at shutdown: a backoff wait ends at once and no further attempt is made.
        self.stopping = threading.Event()
        self._sleep, self._monotonic = sleep or self.stopping.wait, monotonic
        self.retries: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    @classmethod
    def from_environment(cls, pool_size: int = 12) -> Kube:
        """In-cluster service account, else the kubeconfig (KUBECONFIG, else ~/.kube/config).

        In-cluster, the API server is the `kubernetes` Service's address that the kubelet puts
        in KUBERNETES_SERVICE_HOST/PORT, so no cluster DNS is needed. lightkube reads one
        kubeconfig file, so of a KUBECONFIG list the first file is used (kubectl would merge
        them).
        """
        from lightkube import ConfigError, KubeConfig

        try:
            config = KubeConfig.from_service_account()
            source = "in-cluster: the kubernetes Service, KUBERNETES_SERVICE_HOST/PORT"
        except (ConfigError, KeyError):  # KeyError: no KUBERNETES_SERVICE_HOST/PORT
            path = kubeconfig_path(os.environ)
            config = KubeConfig.from_file(path)
            source = f"kubeconfig {path}"
        return cls.from_config(_current(config), pool_size=pool_size, source=source)

    @classmethod
    def from_kubeconfig(cls, path: str, pool_size: int = 12, **kwargs: Any) -> Kube:
        """The current context of one kubeconfig file (the tests' admin client)."""
        from lightkube import KubeConfig

        config = _current(KubeConfig.from_file(path))
        return cls.from_config(config, pool_size=pool_size, source=f"kubeconfig {path}", **kwargs)

    @classmethod
    def from_config(
        cls,
        config: SingleConfig,
        pool_size: int = 12,
        source: str = "",
        transport: httpx2.BaseTransport | None = None,
        **kwargs: Any,
    ) -> Kube:
        """An httpx2 client set up by lightkube (base URL, TLS, credentials) for `config`.

        The environment's proxy settings are ignored (trust_env off): the API server is reached
        directly, whatever HTTPS_PROXY the pod has for model downloads. httpx2 itself never
        retries; `request` is the one place that retries, waits and counts. The pool keeps a
        connection per reconcile thread alive, so none opens a fresh connection per request.
        """
        import httpx2
        from lightkube.config.client_adapter import ConnectionParams

        timeout = httpx2.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
        params = ConnectionParams(timeout=timeout, trust_env=False, transport=transport).httpx_params(config)
        http = httpx2.Client(**params, limits=httpx2.Limits(max_keepalive_connections=pool_size))
        return cls(http, source=source, config=config, **kwargs)

    def close(self) -> None:
        """Closes the pooled connections."""
        self.http.close()

    @property
    def server(self) -> str:
        """The API server as log lines about reaching it name it: URL and where it came from."""
        host = str(self.http.base_url).rstrip("/")
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
        status = resp.status_code
        return None if 200 <= status < 300 else f"HTTP {status} for GET {path}"

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
        try:
            resp = self._exchange(method, path, query, body, content_type)
        except Exception:
            API_REQUESTS.labels(method, "error").inc()
            raise
        API_REQUESTS.labels(method, str(resp.status_code)).inc()
        if not 200 <= resp.status_code < 300:
            raise ApiError.from_response(method, path, resp)
        return json.loads(resp.content) if resp.content else None

    def _exchange(
        self, method: str, path: str, query: dict[str, str] | None, body: Any, content_type: str
    ) -> httpx2.Response:
        """The HTTP request itself, authenticated by the client; the response whatever its status."""
        content = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": content_type}
        return self.http.request(method, path, params=query, content=content, headers=headers)

    def get(self, path: str) -> dict[str, Any] | None:
        """The object, or None if it does not exist."""
        try:
            return self.request("GET", path)
        except ApiError as exc:
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
        meta = owner["metadata"]
        path = object_path(owner["apiVersion"], owner["kind"], meta["namespace"], meta["name"])
        try:
            return self.request(
                "PATCH",
                path + "/status",
                body={"status": status},
                content_type="application/merge-patch+json",
            )
        except ApiError as exc:
            if is_not_found(exc):
                return None  # deleted while we were reconciling
            raise


def delete_exactly(kube: Kube, path: str, uid: str) -> None:
    """The uid precondition: never delete a child recreated since we read it.

    Idempotent like `apply`: an object already gone (404) or replaced (409, the precondition)
    is what the caller wanted, not a failure.
    """
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": uid}}
    try:
        kube.request("DELETE", path, body=body)
    except ApiError as exc:
        if not is_not_found(exc) and exc.status != 409:
            raise
