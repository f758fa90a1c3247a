"""SIGTERM on a real `mlmodel serve`: not ready at once, still serving until the drain ends.

The client opens a new connection per request, as one behind a ClusterIP Service does, so a
listener closed too early would show up as refused connections.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import MODELS
from tests.http.conftest import make_client

DRAIN, SHUTDOWN = 2.0, 4.0
BODY = json.dumps(
    {
        "inputs": [
            {"name": "a", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
            {"name": "b", "shape": [1, 4], "datatype": "INT32", "data": [1, 1, 1, 1]},
        ]
    }
).encode()


# No keep-alive: every request opens a connection of its own.
CLIENT = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


def infer(url: str, content: bytes | Iterator[bytes] = BODY) -> int | str:
    """One request on a fresh connection: its status, or the transport error's name."""
    try:
        return CLIENT.post(f"{url}/v2/models/multi_io/infer", content=content).status_code
    except httpx.TransportError as exc:
        return type(exc).__name__


def ready(url: str) -> int | str:
    try:
        return CLIENT.get(f"{url}/v2/health/ready").status_code
    except httpx.TransportError as exc:
        return type(exc).__name__


def until(deadline: float, call, *args) -> list[tuple[float, int | str]]:
    """`call(*args)` about 50 times a second until `deadline`: (time sent, answer) pairs."""
    answers = []
    while (sent := time.monotonic()) < deadline:
        answers.append((sent, call(*args)))
        time.sleep(0.02)
    return answers


def trickled(seconds: float) -> Iterator[bytes]:
    """The body in four pieces spread over `seconds`: a request still in flight meanwhile."""
    step = len(BODY) // 4 + 1
    for start in range(0, len(BODY), step):
        yield BODY[start : start + step]
        time.sleep(seconds / 4)


def test_sigterm_fails_readiness_at_once_and_serves_until_the_drain_ends(serve_process):
    server = serve_process(
        "--model", MODELS / "multi_io.tflite", "--drain-seconds", "2", "--shutdown-timeout", "4"
    )
    with ThreadPoolExecutor(3) as pool:
        signalled = time.monotonic() + 0.5
        drain_end = signalled + DRAIN
        stream = pool.submit(until, drain_end - 0.3, infer, server.url)
        time.sleep(0.5)
        server.proc.send_signal(signal.SIGTERM)
        readiness = pool.submit(until, drain_end - 0.3, ready, server.url)
        time.sleep(DRAIN - 0.7)
        # Sent during the drain, its body still arriving after the listener has closed.
        in_flight = pool.submit(infer, server.url, trickled(1.4))
        code = server.proc.wait(timeout=DRAIN + SHUTDOWN + 2)
        stopped = time.monotonic()
        answers, probes = stream.result(), readiness.result()
    assert {answer for _, answer in answers} == {200}
    assert len([sent for sent, _ in answers if sent > signalled + 0.2]) > DRAIN * 25
    assert probes[0][1] == 503 and {answer for _, answer in probes} == {503}
    assert in_flight.result() == 200
    assert code == 0 and drain_end < stopped < drain_end + SHUTDOWN


def test_a_draining_server_is_not_ready_but_answers_everything_else():
    client = make_client("multi_io")
    client.app.state.dataplane.draining = True
    try:
        assert client.get("/v2/health/ready").status_code == 503
        assert client.get("/v2/models/multi_io/ready").json() == {"name": "multi_io", "ready": False}
        assert client.get("/ping").status_code == 404  # MLflow's "not ready"
        assert client.get("/v1/models").json()["models"][0]["ready"] is False
        assert client.get("/v2/health/live").status_code == 200
        assert client.post("/v2/models/multi_io/infer", content=BODY).status_code == 200
    finally:
        client.app.state.dataplane.close()
