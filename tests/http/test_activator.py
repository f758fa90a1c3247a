"""A real `mlmodel activator` in front of a real `mlmodel serve`, with a scripted API server:
what a client of a stopped service with wakeOnRequest notices."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import MODELS, free_port
from tests.support.fakekube import (
    NAMESPACE,
    OWNER_PATH,
    SERVICE,
    STOP_TIME,
    FakeKube,
    ready_pod,
    routed_service,
)

HOST = {"Host": f"{SERVICE}.{NAMESPACE}:8080"}
BODY = {
    "inputs": [
        {"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
        {"name": "b", "shape": [1, 4], "datatype": "INT32", "data": [1, 1, 1, 1]},
    ]
}
INFER = "/v2/models/multi_io/infer"


@pytest.fixture
def kube() -> Iterator[FakeKube]:
    fake = FakeKube()
    yield fake
    fake.close()


@pytest.fixture
def activator(kube: FakeKube) -> Iterator[Callable[..., str]]:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        port = free_port()
        command = [sys.executable, "-m", "mlmodel_server.cli", "activator", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--health-port", "0", "--kube-api", kube.url, *args]
        procs.append(subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"}, text=True))
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(url, headers={"Host": "nobody"}, timeout=1)
                return url
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("activator did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def post(url: str, timeout: float = 60) -> httpx.Response:
    return httpx.post(url + INFER, json=BODY, headers=HOST, timeout=timeout)


def test_held_request_is_answered_by_the_woken_server(kube, activator, serve_process):
    url = activator("--hold-seconds", "60")
    with ThreadPoolExecutor(4) as pool:
        held = [pool.submit(post, url) for _ in range(4)]
        assert kube.woken.wait(10), "the activator recorded no wake"
        time.sleep(0.5)
        assert not any(f.done() for f in held), "requests must wait for a Ready pod, not fail"
        server = serve_process("--model", MODELS / "multi_io.tflite")
        kube.pods = [ready_pod(server.port)]
        answers = [f.result() for f in held]
    direct = httpx.post(server.url + INFER, json=BODY).json()
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["outputs"] == direct["outputs"] for a in answers)
    wake = kube.wakes[0]
    assert wake["path"] == OWNER_PATH + "/status"
    assert wake["type"] == "application/merge-patch+json"
    assert wake["status"]["wakeRequestedFor"] == STOP_TIME  # status only, naming the stop it ends
    assert set(wake) == {"path", "type", "status"}


def test_a_burst_on_a_service_stopped_after_the_last_listing_is_held_and_answered(
    kube, activator, serve_process
):
    kube.services = []
    url = activator("--hold-seconds", "30")  # its first listing finds no stopped service
    kube.services, kube.services_delay = [routed_service()], 0.5
    server = serve_process("--model", MODELS / "multi_io.tflite")
    kube.pods = [ready_pod(server.port)]
    time.sleep(1.1)  # past the activator's one listing per second
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: post(url), range(20)))
    assert [a.status_code for a in answers] == [200] * 20, answers[0].text


def test_a_request_held_too_long_gets_503_saying_the_service_is_waking(kube, activator):
    url = activator("--hold-seconds", "1")
    started = time.monotonic()
    answer = post(url)
    assert 1 <= time.monotonic() - started < 5
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert f"service {NAMESPACE}/{SERVICE} is waking" in answer.json()["error"]


def test_requests_past_the_bound_are_shed_at_once(kube, activator):
    url = activator("--hold-seconds", "3", "--max-held", "2")
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(post, url) for _ in range(6)]
        time.sleep(1)
        shed = [f.result() for f in futures if f.done()]
        rest = [f.result() for f in futures]
    assert len(shed) == 4, "all but --max-held requests answered before the hold expired"
    assert all("too many requests held" in r.json()["error"] for r in shed)
    assert [r.status_code for r in rest] == [503] * 6


def test_an_unknown_host_is_refused_at_once(kube, activator):
    url = activator()
    answer = httpx.post(url + INFER, json=BODY, headers={"Host": "other.shop"}, timeout=5)
    assert answer.status_code == 503
    assert "no stopped service with wakeOnRequest is called 'other.shop'" in answer.json()["error"]
