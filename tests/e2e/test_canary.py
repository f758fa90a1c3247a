"""Canary and shadow traffic on the real node, through the Service: the split a client
measures, promotion under a steady stream, rollback of a candidate that answers differently,
and an identical candidate that is never rolled back.

Version 1 is classifier_float32. The candidate, version 2, is classifier_shifted (the same
signature, its top-1 class moved one along: every mirrored request disagrees) or the same
bytes as version 1 (an identical candidate). Every answer names the version that gave it
(`model_version`), and the shifted model's answers also show it in their values.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlmodel_operator.clock import parse_time
from tests.e2e.packages import MODELS, cm_version, configmap, mlmodel, package
from tests.e2e.scenarios import BODY, FLOATS, KEY, V1, path, serving_address
from tests.e2e.traffic import Stream, post
from tests.support.objects import Objects

SHIFTED = (MODELS / "classifier_shifted.tflite").read_bytes()
STABLE_TOP = int(FLOATS.reshape(-1, 3).mean(axis=0).argmax())  # classifier_float32's class for BODY
INTERVAL = 4  # seconds per promotion step: short, the gates see hundreds of requests meanwhile
GATES = {"maxErrorRate": 0.01, "maxP99Ms": 1000, "minAgreement": 0.98}


def answer(raw: bytes) -> str:
    """The version an answer names; `wrong` when its values are neither version's."""
    doc = json.loads(raw)
    top = max(range(4), key=lambda i: doc["outputs"][0]["data"][i])
    return str(doc["model_version"]) if top in (STABLE_TOP, (STABLE_TOP + 1) % 4) else f"wrong {doc}"


def two_versions(objs: Objects, candidate: bytes, replicas: int = 1, **canary: Any) -> tuple[str, int]:
    """ModelPackage with versions 1 and 2, a service on 1 with `canary`; its Service address."""
    name = "canary"
    objs.create(configmap(f"{name}-1", KEY, V1))
    objs.create(configmap(f"{name}-2", KEY, candidate))
    objs.create(
        package(name, cm_version("1", f"{name}-1", KEY, V1), cm_version("2", f"{name}-2", KEY, candidate))
    )
    pins = [{"name": "m", "package": name, "version": "1"}]
    objs.create(mlmodel(name, name, KEY, packages=pins, replicas=replicas, canary={"version": "2", **canary}))
    return serving_address(objs, name)


def canary_status(objs: Objects) -> dict[str, Any]:
    return dict(objs.status("MLModelService", "canary").get("canary") or {})


def wait_state(objs: Objects, state: str, timeout: float = 180) -> dict[str, Any]:
    return objs.wait(lambda: (c := canary_status(objs)).get("state") == state and c,
                     f"canary {state} (now {canary_status(objs)})", timeout)  # fmt: skip


def test_ten_thousand_requests_at_ten_percent_land_within_two_percent_through_the_service(
    objs: Objects,
) -> None:
    address = two_versions(objs, SHIFTED, percent=10, replicas=2)
    objs.wait(lambda: canary_status(objs).get("state") == "Manual" and objs.status("MLModelService", "canary")
              .get("phase") == "Running", "both pods running the split")  # fmt: skip

    def send(n: int) -> Counter[str]:
        found: Counter[str] = Counter()
        for _ in range(n):
            status, raw = post(address, path("canary"), BODY)
            found[answer(raw) if status == 200 else f"HTTP {status}"] += 1
        return found

    start = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        seen = sum(pool.map(send, [1250] * 8), Counter())
    share = seen["2"] / 10_000
    print(f"\n[e2e] canary split through the Service (2 pods): {dict(seen)}, candidate {share:.2%}, "
          f"{10_000 / (time.monotonic() - start):.0f} req/s")  # fmt: skip
    assert seen["1"] + seen["2"] == 10_000, seen
    assert abs(share - 0.10) <= 0.02


def test_promotion_through_10_50_100_under_a_steady_stream_loses_no_request(objs: Objects) -> None:
    promotion = {"steps": [10, 50, 100], "interval": f"{INTERVAL}s", "minRequests": 20, "gates": GATES}
    address = two_versions(objs, V1, mirror=True, promotion=promotion)
    with Stream(address, path("canary"), BODY, answer) as stream:
        promoted = wait_state(objs, "Promoted")
        # The GitOps commit: the repository pins version 2 and drops the canary.
        pins = [{"name": "m", "package": "canary", "version": "2"}]
        objs.patch("MLModelService", "canary", {"spec": {"packages": pins, "canary": None}})
        objs.wait(lambda: not canary_status(objs) and objs.status("MLModelService", "canary").get("phase")
                  == "Running", "version 2 alone serving")  # fmt: skip
        time.sleep(3)
    print(f"\n[e2e] canary promotion: {stream.summary()}; decisions "
          f"{[(d['action'], d['percent'], d['time']) for d in promoted['decisions']]}")  # fmt: skip
    assert not stream.failures, stream.failures[:10]
    assert [(d["action"], d["percent"]) for d in promoted["decisions"]] == [
        ("Promote", 10),
        ("Promote", 50),
        ("Complete", 100),
    ]
    assert stream.answers["1"] > 0 and stream.answers["2"] > 0 and set(stream.answers) == {"1", "2"}
    assert objs.status("MLModelService", "canary")["servingPackages"][0]["version"] == "2"


def test_a_candidate_that_answers_differently_is_rolled_back_within_one_interval(objs: Objects) -> None:
    interval = 20
    promotion = {"steps": [10, 50, 100], "interval": f"{interval}s", "minRequests": 20, "gates": GATES}
    address = two_versions(objs, SHIFTED, mirror=True, promotion=promotion)
    with Stream(address, path("canary"), BODY, answer) as stream:
        rolled = wait_state(objs, "RolledBack", timeout=120)
        objs.wait(lambda: "--candidate-model" not in server_args(objs), "the candidate out of the pods")
        objs.wait_phase("MLModelService", "canary", "Running", timeout=120)
        time.sleep(3)
    decision = rolled["decisions"][-1]
    decided, started = parse_time(decision["time"]), parse_time(rolled["stepStartedAt"])
    assert decided is not None and started is not None
    took = (decided - started).total_seconds()
    print(f"\n[e2e] canary rollback {took:.0f}s into a {interval}s step: {decision['message']}")
    print(f"[e2e] canary rollback stream: {stream.summary()}")
    condition = objs.condition("MLModelService", "canary", "RolledBack")
    assert (condition["status"], condition["reason"]) == ("True", "AgreementBelowGate")
    assert took <= interval
    assert not stream.failures, stream.failures[:10]
    assert set(stream.answers) == {"1", "2"} and stream.timeline[-1][1] == "1"


@pytest.mark.parametrize("run", range(5))
def test_an_identical_candidate_is_never_rolled_back(objs: Objects, run: int) -> None:
    promotion = {"steps": [10, 50, 100], "interval": f"{INTERVAL}s", "minRequests": 20, "gates": GATES}
    address = two_versions(objs, V1, mirror=True, promotion=promotion)
    with Stream(address, path("canary"), BODY, answer) as stream:
        while (state := canary_status(objs).get("state")) != "Promoted":
            assert state != "RolledBack", canary_status(objs)
            assert time.monotonic() - stream.started < 180, canary_status(objs)
            time.sleep(0.5)
    agreement = [d["observed"]["agreement"] for d in canary_status(objs)["decisions"]]
    print(f"\n[e2e] identical candidate, run {run + 1}/5: promoted, agreement per step {agreement}; "
          f"{stream.summary()}")  # fmt: skip
    assert agreement == [1.0, 1.0, 1.0]
    assert not stream.failures, stream.failures[:10]
    assert set(stream.answers) == {"1", "2"}


def server_args(objs: Objects) -> list[str]:
    found = objs.get("Deployment", "canary-mlmodel", api="apps/v1") or {}
    return list(found["spec"]["template"]["spec"]["containers"][0]["args"])
