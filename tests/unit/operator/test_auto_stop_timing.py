"""Auto-stop fires at its due time, not at the next resync: the reconcile that sees a due
time ahead queues its own pass for then (the work queue's delayed add).

The operator's clock is the injectable one (clock.py), set so that the service started
almost a minute ago; the queue, its worker and the reconcile are real, over a fake API
server. Nothing else (no watch event, no resync timer) triggers the pass that stops it.
"""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fake_apiserver import FakeApiServer

from mlmodel_operator.clock import format_time, parse_time, system_clock
from mlmodel_operator.config import Config
from mlmodel_operator.events import recording_poster
from mlmodel_operator.handlers import triggers
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import Kube
from mlmodel_operator.packages import fingerprint
from mlmodel_operator.workqueue import WorkQueue

NS = "ns"
OWNER = f"/apis/mlmodel.dev/v1alpha1/namespaces/{NS}/mlmodelservices/fruit"
PACKAGE = f"/apis/mlmodel.dev/v1alpha1/namespaces/{NS}/modelpackages/fruit"
DEPLOYMENT = f"/apis/apps/v1/namespaces/{NS}/deployments/fruit-mlmodel"
SHA = "a" * 64
VERSION = {"version": "1", "source": {"url": "https://models.test/fruit.tflite"}, "sha256": SHA}
STARTED = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
DUE = STARTED + timedelta(minutes=1)


def package() -> dict[str, Any]:
    entry = {"version": "1", "sourceType": "url", "verified": "True", "reason": "Verified", "sha256": SHA}
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "ModelPackage",
        "metadata": {"name": "fruit", "namespace": NS},
        "spec": {"versions": [VERSION]},
        "status": {"versions": [{**entry, "fingerprint": fingerprint(VERSION)}]},
    }


def service() -> dict[str, Any]:
    """Running since STARTED, with `autoStop: 1m`: due at DUE."""
    return {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": "fruit", "namespace": NS, "uid": "u1", "generation": 1},
        "spec": {
            "attributes": {"model_path": "${packages.fruit}/fruit.tflite", "num_threads": 1},
            "packages": [{"name": "fruit", "package": "fruit", "version": "latest"}],
            "replicas": 1,
            "autoStop": "1m",
        },
        "status": {"observedGeneration": 1, "runningSince": format_time(STARTED)},
    }


def operator_at(seconds_before_due: float) -> tuple[FakeApiServer, Runtime]:
    api = FakeApiServer({OWNER: service(), PACKAGE: package()})
    offset = (DUE - datetime.now(UTC)).total_seconds() - seconds_before_due
    rt = Runtime(Config(), Kube(api), system_clock(offset), recording_poster([]))
    rt.queue = WorkQueue(functools.partial(triggers.handle, rt), workers=1, max_backoff=60)
    return api, rt


def replicas(api: FakeApiServer) -> int | None:
    deployment = api.objects.get(DEPLOYMENT)
    return None if deployment is None else deployment["spec"]["replicas"]


def test_auto_stop_scales_to_zero_at_its_due_time_without_a_resync() -> None:
    api, rt = operator_at(seconds_before_due=1.5)
    rt.queue.start()
    try:
        rt.queue.add(("MLModelService", NS, "fruit"))  # the one event: the service is seen
        deadline = time.monotonic() + 10
        while replicas(api) != 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped_at = rt.clock()
    finally:
        rt.queue.stop()
    assert replicas(api) == 0, "not stopped within 10 s of the due time"
    late = (stopped_at - DUE).total_seconds()
    assert -2 <= late <= 5, f"scaled to zero {late:+.2f}s from the due time"
    status = api.objects[OWNER]["status"]
    assert status["phase"] == "Stopped" and status["stopReason"] == "AutoStop"
    assert parse_time(status["stopTime"]) >= DUE  # never before it is due
    assert api.count("PATCH", "/status") == 2  # the first pass, then the stop: no busy loop


def test_a_deadline_rearmed_by_every_pass_waits_once() -> None:
    calls: list[object] = []
    queue = WorkQueue(calls.append, workers=0)
    for delay in (30.0, 20.0, 25.0, 20.0):  # four passes, each scheduling the same deadline
        queue.add_after("fruit", delay)
    assert len(queue) == 0  # a deadline ahead is not work waiting (the depth metric)
    assert queue._waiting == {"fruit": queue._waiting["fruit"]} and len(queue._delayed) == 2
