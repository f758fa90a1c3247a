"""Autoscaling on CPU on the real node: a load that saturates one pod makes the operator's HPA
add pods (metrics-server scrapes the kubelet), the throughput rises with them, and once the
load stops it scales back to minReplicas; no request fails through either change.

Printed: the ready replicas over time (one line per sample, then as a chart) and the answers
per second at each replica count.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.e2e.scenarios import BODY, path, serve_v1, version_of
from tests.e2e.traffic import Stream
from tests.support.objects import Objects

NAME = "auto"
MIN_REPLICAS, MAX_REPLICAS = 1, 3
AUTOSCALING = {"minReplicas": MIN_REPLICAS, "maxReplicas": MAX_REPLICAS, "target": {"cpuUtilization": 50},
               "scaleDownDelaySeconds": 15}  # fmt: skip
# The limit makes one pod the bottleneck: without it a pod takes what the load generator leaves
# of the host's CPUs, and more pods on the same cores cannot answer more.
RESOURCES = {"requests": {"cpu": "100m"}, "limits": {"cpu": "250m"}}
SAMPLE_EVERY = 5.0


@dataclass
class Samples:
    """(seconds since start, ready replicas, answers so far), one per SAMPLE_EVERY."""

    objs: Objects
    started: float = field(default_factory=time.monotonic)
    rows: list[tuple[float, int, int]] = field(default_factory=list)

    def ready(self) -> int:
        deployment = self.objs.get("Deployment", f"{NAME}-mlmodel", api="apps/v1") or {}
        return int(deployment.get("status", {}).get("readyReplicas") or 0)

    def until(self, done: Callable[[int], bool], stream: Stream, timeout: float) -> bool:
        """Sample until `done(ready replicas)` or `timeout`; whether it happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = self.ready()
            self.rows.append((time.monotonic() - self.started, ready, stream.total - len(stream.failures)))
            print(f"[e2e] autoscaling t={self.rows[-1][0]:6.1f}s ready={ready} answers={self.rows[-1][2]}")
            if done(ready):
                return True
            time.sleep(SAMPLE_EVERY)
        return False


def throughput_by_replicas(rows: list[tuple[float, int, int]]) -> dict[int, float]:
    """Answers per second over the sampling intervals that began and ended at one replica count."""
    seconds: dict[int, float] = defaultdict(float)
    answers: dict[int, int] = defaultdict(int)
    for (t0, r0, a0), (t1, r1, a1) in itertools.pairwise(rows):
        if r0 == r1 and a1 >= a0:
            seconds[r0] += t1 - t0
            answers[r0] += a1 - a0
    return {r: round(answers[r] / seconds[r], 1) for r in sorted(seconds) if seconds[r] > 0}


def replica_chart(rows: list[tuple[float, int, int]]) -> str:
    """Ready replicas over time as text: one column per sample, one line per replica count."""
    top = max(ready for _, ready, _ in rows)
    lines = [f"{level} |" + "".join("#" if ready >= level else " " for _, ready, _ in rows)
             for level in range(top, 0, -1)]  # fmt: skip
    axis = "  +" + "-" * len(rows) + f" {rows[-1][0]:.0f}s, one column per {SAMPLE_EVERY:g}s"
    return "\n".join([*lines, axis])


def test_cpu_load_scales_out_and_back_without_failed_requests(objs: Objects) -> None:
    address = serve_v1(objs, NAME, resources=RESOURCES, autoscaling=AUTOSCALING)
    loaded = Samples(objs)
    with Stream(address, path(NAME), BODY, version_of, workers=8, pause=0.0) as load:
        scaled = loaded.until(lambda ready: ready >= 2, load, timeout=180)
        if scaled:  # let it settle at its new size for a few samples
            loaded.until(lambda ready: ready >= MAX_REPLICAS, load, timeout=45)
            loaded.until(lambda ready: False, load, timeout=20)
    idle = Samples(objs, started=loaded.started)
    with Stream(address, path(NAME), BODY, version_of, workers=1, pause=0.2) as trickle:
        back = idle.until(lambda ready: ready == MIN_REPLICAS, trickle, timeout=240)
    rates = throughput_by_replicas(loaded.rows)
    print("\n[e2e] autoscaling: ready replicas over time\n" + replica_chart(loaded.rows + idle.rows))
    peak = max(ready for _, ready, _ in loaded.rows)
    print(f"\n[e2e] autoscaling: load {load.summary()}; afterwards {trickle.summary()}; answers/s by "
          f"ready replicas {rates}; peak {peak} replicas; back to minReplicas: {back}")  # fmt: skip
    assert scaled, "the HPA never added a pod under a load that saturates one"
    assert not load.failures and not trickle.failures, (load.failures + trickle.failures)[:10]
    assert len(rates) >= 2 and rates[max(rates)] > rates[min(rates)], rates
    assert back, f"still {idle.ready()} ready replicas after the load stopped"
