"""Auto-stop on real pods, and healing after a pod is deleted or its server is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime

from localcluster import LocalCluster
from tests.e2e import scenarios
from tests.e2e.conftest import wait_for
from tests.e2e.scenarios import BODY, path, serve_v1, version_of
from tests.e2e.traffic import Stream
from tests.support.objects import Objects


def answers(address: tuple[str, int]) -> bool:
    return scenarios.answers(address, "float")


def test_auto_stop_terminates_pods_and_restart_serves_again(objs: Objects) -> None:
    address = serve_v1(objs, autoStop="1m")
    assert answers(address)
    objs.wait_phase("MLModelService", "float", "Stopped", timeout=150)
    wait_for(lambda: not objs.list("Pod", selector="app.kubernetes.io/instance=float"), "pods gone", 60)
    assert not answers(address), "a stopped service still answered"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    t0 = time.monotonic()
    objs.patch("MLModelService", "float", {"spec": {"restartedAt": now}})
    wait_for(lambda: answers(address), "the first good answer after the restart", 120)
    print(f"\n[e2e] auto-stop: restart to first good answer {time.monotonic() - t0:.1f}s")


def server_pid(cluster: LocalCluster, pod: str) -> int:
    """The host pid of a pod's server container, from containerd (crictl inspect)."""
    node = cluster.node()
    crictl = [str(cluster.bin_dir / "crictl"), f"--runtime-endpoint={node.layout.cri_endpoint}"]
    query = ["ps", "-q", "--name", "^server$", "--label", f"io.kubernetes.pod.name={pod}"]
    ids = subprocess.run([*crictl, *query], capture_output=True, text=True, check=True)
    container = ids.stdout.split()[0]
    info = subprocess.run([*crictl, "inspect", container], capture_output=True, text=True, check=True)
    return int(json.loads(info.stdout)["info"]["pid"])


def test_deleted_pod_and_killed_server_heal(objs: Objects, real_cluster: LocalCluster) -> None:
    address = serve_v1(objs, replicas=2)
    selector = "app.kubernetes.io/instance=float"
    with Stream(address, path("float"), BODY, version_of) as stream:
        time.sleep(2)
        first, second = (p["metadata"]["name"] for p in objs.list("Pod", selector=selector))
        objs.delete("Pod", first, api="v1")
        wait_for(lambda: _ready_pods(objs, selector, exclude=first) == 2, "two Ready pods again")
        deleted = len(stream.failures)
        os.kill(server_pid(real_cluster, second), signal.SIGKILL)
        wait_for(lambda: _restarted_and_ready(objs, second), f"{second} restarted and Ready")
        time.sleep(2)
    killed = len(stream.failures) - deleted
    print(f"\n[e2e] heal: {stream.summary()}; failed during pod delete {deleted}, "
          f"during server kill {killed}: {stream.failures[:5]}")  # fmt: skip
    assert deleted == 0, stream.failures[:10]
    assert stream.answers["v1"] > 0


def _ready_pods(objs: Objects, selector: str, exclude: str) -> int:
    pods = [p for p in objs.list("Pod", selector=selector) if p["metadata"]["name"] != exclude]
    conditions = [p["status"].get("conditions") or [] for p in pods]
    return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in cs) for cs in conditions)


def _restarted_and_ready(objs: Objects, name: str) -> bool:
    pod = objs.get("Pod", name, api="v1") or {}
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return any(s["name"] == "server" and s["restartCount"] >= 1 and s["ready"] for s in statuses)
