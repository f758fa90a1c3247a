"""Wake on request on real pods: a service stopped by auto-stop, with wakeOnRequest, answers a
burst of requests through its own Service after the activator woke it."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from localcluster import LocalCluster
from tests.e2e.conftest import wait_for
from tests.e2e.scenarios import BODY, path, serve_v1, version_of
from tests.e2e.traffic import post
from tests.support.objects import Objects

BURST = 100


def activator_rss_mb(cluster: LocalCluster) -> float:
    """The activator container's resident memory, from its host pid (crictl inspect)."""
    node = cluster.node()
    crictl = [str(cluster.bin_dir / "crictl"), f"--runtime-endpoint={node.layout.cri_endpoint}"]
    ids = subprocess.run([*crictl, "ps", "-q", "--name", "^activator$"], capture_output=True, text=True,
                         check=True)  # fmt: skip
    info = subprocess.run([*crictl, "inspect", ids.stdout.split()[0]], capture_output=True, text=True,
                          check=True)  # fmt: skip
    pid = json.loads(info.stdout)["info"]["pid"]
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss = next(line for line in lines if line.startswith("VmRSS"))
    return int(rss.split()[1]) / 1024


def test_a_burst_on_a_stopped_service_is_answered_after_the_wake(
    objs: Objects, real_cluster: LocalCluster
) -> None:
    address = serve_v1(objs, autoStop="1m", wakeOnRequest=True)
    objs.wait_phase("MLModelService", "float", "Stopped", timeout=150)
    wait_for(lambda: not objs.list("Pod", selector="app.kubernetes.io/instance=float"), "pods gone", 60)
    # The Service leads to the activator once the operator has written its EndpointSlice (the
    # reconcile after the stop: a request in between is refused, see docs/operator.md).
    slice_of = lambda: objs.get("EndpointSlice", "float-mlmodel-activator", api="discovery.k8s.io/v1")  # noqa: E731
    wait_for(slice_of, "the Service's EndpointSlice to the activator", 60)
    generation = objs.get("MLModelService", "float")["metadata"]["generation"]  # type: ignore[index]

    def timed() -> tuple[int, bytes, float]:
        t0 = time.monotonic()
        status, body = post(address, path("float"), BODY, timeout=60)
        return status, body, time.monotonic() - t0

    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(lambda _: timed(), range(BURST)))
    statuses = [r[0] for r in results]
    assert statuses == [200] * BURST, [r[1][:200] for r in results if r[0] != 200][:5]
    assert {version_of(r[1]) for r in results} == {"v1"}
    first = min(r[2] for r in results)
    last = max(r[2] for r in results)
    status = objs.status("MLModelService", "float")
    assert status["phase"] == "Running" and status.get("wakeRequestedFor")
    after = objs.get("MLModelService", "float")
    assert after is not None and after["metadata"]["generation"] == generation  # spec never written
    # Once awake, the Service leads to the pods again: no traffic through the activator.
    svc = objs.get("Service", "float-mlmodel", api="v1")
    wait_for(lambda: "selector" in (objs.get("Service", "float-mlmodel", api="v1") or svc)["spec"],
             "the Service back on the pods", 30)  # fmt: skip
    print(f"\n[e2e] wake: {BURST} concurrent requests from zero, 0 failed; first answer {first:.2f}s, "
          f"last {last:.2f}s; activator RSS {activator_rss_mb(real_cluster):.1f} MB")  # fmt: skip
