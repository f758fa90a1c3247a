"""Transient API failures are retried with backoff and never become a status.

`Kube.request` is the one place every read and write goes through; these tests
replace only its transport (tests/unit/operator/fake_apiserver.py) and keep
the client's error mapping, the retry loop and a full reconcile real.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from fake_apiserver import FakeApiServer

from mlmodel_operator.clock import fixed_clock
from mlmodel_operator.config import Config
from mlmodel_operator.events import recording_poster
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.serving import reconcile_serving
from mlmodel_operator.k8s.client import ApiError, Kube
from mlmodel_operator.k8s.retry import RetryPolicy, retry_reason
from mlmodel_operator.packages import fingerprint
from mlmodel_operator.watchcache import Store

NS = "ns"
CM = f"/api/v1/namespaces/{NS}/configmaps/x"
POLICY = RetryPolicy(attempts=5, base=0.1, cap=0.4, deadline=60)


class Clock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, []  # type: ignore[var-annotated]

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def kube_over(api: FakeApiServer, policy: RetryPolicy = POLICY) -> tuple[Kube, Clock]:
    clock = Clock()
    return Kube(api, policy=policy, sleep=clock.sleep, monotonic=clock), clock


def timeout() -> Exception:
    return httpx2.ReadTimeout("timed out")


def refused() -> Exception:
    return httpx2.ConnectError("[Errno 111] Connection refused")


def assert_backoff(sleeps: list[float], policy: RetryPolicy = POLICY) -> None:
    """Each wait lies in [ceiling/2, ceiling] of its exponential, capped step."""
    for retry, waited in enumerate(sleeps, start=1):
        ceiling = min(policy.cap, policy.base * 2 ** (retry - 1))
        assert ceiling / 2 <= waited <= ceiling, (retry, waited)


# --- the write helper: apply (PATCH) ---------------------------------------------------------


def test_apply_conflict_then_ok_is_retried() -> None:
    api = FakeApiServer()
    api.fail("PATCH", CM, 409)
    kube, clock = kube_over(api)
    out = kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": NS}})
    assert out["metadata"]["name"] == "x"
    assert api.count("PATCH") == 2 and kube.retries == {"409": 1}
    assert_backoff(clock.sleeps)


@pytest.mark.parametrize("statuses", [(500,), (503,), (500, 503, 504), (429, 502)])
def test_server_errors_then_ok_are_retried_with_growing_waits(statuses: tuple[int, ...]) -> None:
    api = FakeApiServer({CM: {"metadata": {"name": "x"}}})
    api.fail("GET", CM, *statuses)
    kube, clock = kube_over(api)
    assert kube.get(CM) == {"metadata": {"name": "x"}}
    assert api.count("GET") == len(statuses) + 1
    assert sum(kube.retries.values()) == len(statuses)
    assert len(clock.sleeps) == len(statuses)
    assert_backoff(clock.sleeps)


@pytest.mark.parametrize(("fault", "reason"), [(timeout(), "timeout"), (refused(), "connection")])
def test_timeouts_and_refused_connections_are_retried(fault: Exception, reason: str) -> None:
    api = FakeApiServer({CM: {"metadata": {"name": "x"}}})
    api.fail("GET", CM, fault, fault)
    kube, _ = kube_over(api)
    assert kube.get(CM) is not None
    assert kube.retries == {reason: 2}


def test_gives_up_after_the_last_attempt_with_the_last_error() -> None:
    api = FakeApiServer()
    api.fail("GET", CM, *[503] * 10)
    kube, clock = kube_over(api)
    with pytest.raises(ApiError) as raised:
        kube.get(CM)
    assert raised.value.status == 503
    assert api.count("GET") == POLICY.attempts and len(clock.sleeps) == POLICY.attempts - 1
    assert clock.sleeps[-1] <= POLICY.cap  # capped, not 0.1 * 2**3


def test_no_new_attempt_after_the_deadline() -> None:
    api = FakeApiServer()
    api.fail("GET", CM, *[timeout()] * 10)
    policy = RetryPolicy(attempts=100, base=4, cap=4, deadline=10)
    kube, clock = kube_over(api, policy)
    with pytest.raises(httpx2.ReadTimeout):
        kube.get(CM)
    assert clock.now < policy.deadline + policy.cap


@pytest.mark.parametrize("status", [400, 403, 422])
def test_answers_are_not_retried(status: int) -> None:
    api = FakeApiServer()
    api.fail("PATCH", CM, status)
    kube, clock = kube_over(api)
    with pytest.raises(ApiError):
        kube.request("PATCH", CM, body={})
    assert api.count("PATCH") == 1 and clock.sleeps == [] and not kube.retries


def test_not_found_is_an_answer_not_a_retry() -> None:
    kube, clock = kube_over(FakeApiServer())
    assert kube.get(CM) is None and clock.sleeps == []


def test_creates_are_retried_only_when_they_cannot_have_happened() -> None:
    assert retry_reason("POST", ApiError(status=409)) is None  # AlreadyExists
    assert retry_reason("POST", timeout()) is None  # it may have been created
    assert retry_reason("POST", ApiError(status=500)) is None
    assert retry_reason("POST", ApiError(status=503)) == "503"
    assert retry_reason("POST", refused()) == "connection"  # never reached the apiserver
    assert retry_reason("GET", httpx2.ReadError("[SSL: UNEXPECTED_EOF_WHILE_READING]")) == "disconnected"
    assert retry_reason("GET", httpx2.RemoteProtocolError("Server disconnected")) == "disconnected"
    assert retry_reason("GET", httpx2.UnsupportedProtocol("no scheme")) is None  # a bad URL: a bug
    assert retry_reason("DELETE", ApiError(status=409)) is None  # precondition failed
    assert retry_reason("GET", ValueError("bug")) is None


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(base=0.25, cap=8)
    assert [policy.delay(n, lambda: 1.0) for n in range(1, 9)] == [0.25, 0.5, 1, 2, 4, 8, 8, 8]
    assert [policy.delay(n, lambda: 0.0) for n in (1, 6)] == [0.125, 4]


# --- a whole reconcile: a failed read never becomes a status --------------------------------

OWNER = f"/apis/mlmodel.dev/v1alpha1/namespaces/{NS}/mlmodelservices/fruit"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NS}/deployments/fruit-mlmodel"
SHA = "a" * 64
VERSION = {"version": "1", "source": {"url": "https://models.test/fruit.tflite"}, "sha256": SHA}


def _package() -> dict[str, Any]:
    entry = {"version": "1", "sourceType": "url", "verified": "True", "reason": "Verified"}
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "ModelPackage",
        "metadata": {"name": "fruit", "namespace": NS},
        "spec": {"versions": [VERSION]},
        "status": {"versions": [{**entry, "sha256": SHA, "fingerprint": fingerprint(VERSION)}]},
    }


def _owner(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": "fruit", "namespace": NS, "uid": "u1", "generation": 1},
        "spec": {
            "attributes": {"model_path": "${packages.fruit}/fruit.tflite", "num_threads": 1},
            "packages": [{"name": "fruit", "package": "fruit", "version": "latest"}],
            "replicas": 1,
        },
        "status": status,
    }


ROLLED_OUT = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}


def cluster_serving_fruit() -> tuple[FakeApiServer, Runtime, list[tuple[str, str, str, str]]]:
    """A Running service whose Deployment is rolled out, as the previous reconcile left it."""
    api = FakeApiServer(
        {
            OWNER: _owner({}),
            f"/apis/mlmodel.dev/v1alpha1/namespaces/{NS}/modelpackages/fruit": _package(),
        }
    )
    events: list[tuple[str, str, str, str]] = []
    kube, _ = kube_over(api)
    rt = Runtime(Config(), kube, fixed_clock(datetime(2026, 1, 1, tzinfo=UTC)), recording_poster(events))
    reconcile_serving(rt, "MLModelService", NS, "fruit")  # creates the Deployment
    api.objects[DEPLOYMENT]["metadata"]["generation"] = 1
    api.objects[DEPLOYMENT]["status"] = ROLLED_OUT
    rt.store.put(api.objects[DEPLOYMENT])  # the watch event of the rollout
    reconcile_serving(rt, "MLModelService", NS, "fruit")
    assert api.objects[OWNER]["status"]["phase"] == "Running"
    return api, rt, events


def restarted(rt: Runtime) -> Runtime:
    """The operator after a restart: nothing watched yet, so children are read from the API."""
    rt.store = Store()
    return rt


def ready(api: FakeApiServer) -> dict[str, Any]:
    conds = api.objects[OWNER]["status"]["conditions"]
    return next(c for c in conds if c["type"] == "Ready")


def test_a_failed_deployment_read_writes_no_status() -> None:
    api, rt, events = cluster_serving_fruit()
    before, posted = copy.deepcopy(api.objects[OWNER]["status"]), len(events)
    restarted(rt)
    api.fail("GET", DEPLOYMENT, *[503] * POLICY.attempts)
    with pytest.raises(ApiError):
        reconcile_serving(rt, "MLModelService", NS, "fruit")
    assert api.objects[OWNER]["status"] == before  # no DeploymentNotFound, no Ready=False
    assert api.count("PATCH", "/status") == 2  # the two writes of the setup only
    assert len(events) == posted


def test_a_read_that_recovers_keeps_ready_true_and_posts_nothing() -> None:
    api, rt, events = cluster_serving_fruit()
    posted = len(events)
    restarted(rt)
    api.fail("GET", DEPLOYMENT, 500, timeout(), 503)
    api.fail("GET", OWNER, 504)
    reconcile_serving(rt, "MLModelService", NS, "fruit")
    assert (ready(api)["status"], ready(api)["reason"]) == ("True", "Ready")
    assert api.objects[OWNER]["status"]["phase"] == "Running"
    assert len(events) == posted  # no Degraded/Running flapping
    assert rt.kube.retries == {"500": 1, "timeout": 1, "503": 1, "504": 1}


def test_a_conflicting_status_patch_is_retried_not_lost() -> None:
    api, rt, _ = cluster_serving_fruit()
    api.objects[DEPLOYMENT]["status"] = {**ROLLED_OUT, "availableReplicas": 0}
    rt.store.put(api.objects[DEPLOYMENT])
    api.fail("PATCH", OWNER + "/status", 409)
    reconcile_serving(rt, "MLModelService", NS, "fruit")
    assert api.objects[OWNER]["status"]["phase"] == "Deploying"
    assert rt.kube.retries == {"409": 1}


def test_every_attempt_is_counted_by_method_and_status() -> None:
    from mlmodel_operator.metrics import REGISTRY

    def count(code: str) -> float:
        labels = {"method": "GET", "code": code}
        return REGISTRY.get_sample_value("mlmodel_operator_api_requests_total", labels) or 0.0

    before = {code: count(code) for code in ("200", "503", "404")}
    api = FakeApiServer({"/api/v1/namespaces/ns/configmaps/x": {"metadata": {"name": "x"}}})
    api.fail("GET", "/api/v1/namespaces/ns/configmaps/x", 503)
    kube, _ = kube_over(api)
    assert kube.get("/api/v1/namespaces/ns/configmaps/x") is not None  # retried once
    assert kube.get("/api/v1/namespaces/ns/configmaps/missing") is None
    after = {code: count(code) - before[code] for code in before}
    assert after == {"200": 1.0, "503": 1.0, "404": 1.0}
