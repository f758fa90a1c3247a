"""A steady stream of inference requests through a Service, as a client outside the pods
sees it: every request on a new connection (so each one is routed by kube-proxy afresh),
c workers, every failure and every answer recorded."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.support.objects import Objects


def service_address(objs: Objects, owner: str, component: str = "mlmodel") -> tuple[str, int]:
    """ClusterIP and port of `<owner>-<component>`: reached from the host through kube-proxy."""
    svc = objs.get("Service", f"{owner}-{component}", api="v1")
    assert svc, f"no Service {owner}-{component}"
    return svc["spec"]["clusterIP"], int(svc["spec"]["ports"][0]["port"])


def infer_body(array: np.ndarray, name: str = "image") -> bytes:
    """An Open Inference Protocol JSON request for one input tensor."""
    datatype = {"uint8": "UINT8", "float32": "FP32"}[str(array.dtype)]
    tensor = {"name": name, "shape": list(array.shape), "datatype": datatype,
              "data": array.flatten().tolist()}  # fmt: skip
    return json.dumps({"inputs": [tensor]}).encode()


def post(
    address: tuple[str, int],
    path: str,
    body: bytes,
    content_type: str = "application/json",
    timeout: float = 5,
) -> tuple[int, bytes]:
    """One request on a new connection: (status, body); connection errors raise OSError."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request("POST", path, body, {"Content-Type": content_type})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def ready_through(address: tuple[str, int]) -> bool:
    """GET /v2/health/ready through the Service answers 200 (kube-proxy may trail Ready)."""
    conn = http.client.HTTPConnection(*address, timeout=2)
    try:
        conn.request("GET", "/v2/health/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class Stream:
    """`workers` threads posting `body` to `path` until stopped; answers keyed by `label`."""

    address: tuple[str, int]
    path: str
    body: bytes
    label: Any  # bytes of a 200 answer -> a short name (e.g. "v1"/"v2"); None: "ok"
    content_type: str = "application/json"
    workers: int = 4
    pause: float = 0.02
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str]] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Stream:
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(self.workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            at = time.monotonic() - self.started
            self._record(at, *self._attempt())
            time.sleep(self.pause)

    def _attempt(self) -> tuple[bool, str]:
        """(answered, what): the answer's label, or the HTTP status or error of a failure."""
        try:
            status, raw = post(self.address, self.path, self.body, self.content_type)
        except OSError as exc:
            return False, f"{type(exc).__name__}: {exc}"
        if status != 200:
            return False, f"HTTP {status}: {raw[:200]!r}"
        return True, self.label(raw) if self.label else "ok"

    def _record(self, at: float, answered: bool, outcome: str) -> None:
        with self._lock:
            self.timeline.append((at, outcome))
            if answered:
                self.answers[outcome] += 1
            else:
                self.failures.append((at, outcome))

    @property
    def total(self) -> int:
        return len(self.timeline)

    def summary(self) -> str:
        return f"{self.total} requests, {len(self.failures)} failed, answers {dict(self.answers)}"
