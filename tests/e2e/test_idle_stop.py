"""Idle stop on real pods: a service with `idleStop` keeps running while requests arrive and
stops one idle period after the last one, which its status names from the pod's own metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from localcluster import LocalCluster
from tests.e2e.scenarios import BODY, path, serve_v1
from tests.e2e.traffic import post
from tests.support.objects import Objects

IDLE = 60  # seconds: the shortest idleStop the CRD accepts (1m)
TRAFFIC = 75  # seconds of requests: past the first due time, which the pod's metrics move on


def instant(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_a_service_stops_one_idle_period_after_its_last_request(
    objs: Objects, real_cluster: LocalCluster
) -> None:
    address = serve_v1(objs, idleStop="1m")
    until = time.monotonic() + TRAFFIC
    while time.monotonic() < until:
        assert post(address, path("float"), BODY, timeout=10)[0] == 200
        last_sent = datetime.now(UTC).timestamp()
        time.sleep(2)
    status = objs.status("MLModelService", "float")
    assert status["phase"] == "Running", f"stopped while requests arrived: {status}"

    stopped = objs.wait_phase("MLModelService", "float", "Stopped", timeout=IDLE + 60)
    assert stopped["stopReason"] == "IdleStop"
    last_request = instant(stopped["lastRequestTime"])
    assert abs(last_request - last_sent) < 3, (stopped["lastRequestTime"], last_sent)
    waited = instant(stopped["stopTime"]) - last_request
    assert IDLE <= waited < IDLE + 30, f"stopped {waited:.0f}s after the last request"
    assert "IdleStopped" in {e["reason"] for e in objs.events("float")}
    print(f"\n[e2e] idle stop: {TRAFFIC}s of requests kept it running; stopped {waited:.1f}s after the "
          f"last request (idleStop {IDLE}s)")  # fmt: skip
