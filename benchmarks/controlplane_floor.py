"""The control plane's floor: what the cluster itself needs for N services, with no operator.

    python3 benchmarks/controlplane_floor.py [--sizes 1000]

Why: on 2 cores the burst of `controlplane.py` is CPU-bound, and most of that CPU is the
API server, controller-manager, etcd, scheduler and kwok doing what any Deployment and
Service cost. This run shows how much: on the same fresh cluster, our operator builds the
Deployment and Service of one MLModelService, is stopped, and N copies of that pair (owner
references dropped, so the garbage collector keeps them) are server-side applied from the
same 16 threads; the clock stops when every Deployment is Available. The difference to
`controlplane.py`'s time and CPU is the operator's own share. Results go to
results/controlplane-floor.json.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import controlplane as cp
from controlplane_cluster import Bench, bench_cluster, cpu_delta, cpu_snapshot, log, wait_for_quiet
from controlplane_measure import FIELD_MANAGER, ReadyWatch
from controlplane_subjects import NAMESPACE, OURS, Options, service_manifest
from localcluster import stop_process, wait_until  # hack/ is on sys.path from controlplane_subjects
from mlmodel_operator.k8s.client import Kube, collection_path, object_path

TEMPLATE = "floor"
CHILD = f"{TEMPLATE}-mlmodel"  # the children's name (builders/common.child_name)
KINDS = (("apps/v1", "Deployment"), ("v1", "Service"))
DEPLOYMENTS = collection_path("apps/v1", "Deployment", NAMESPACE)
SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "ownerReferences", "generation")


def template(bench: Bench) -> list[dict[str, Any]]:
    """The operator's Deployment and Service for one MLModelService, as a user could apply them."""
    bench.kube.apply(
        {**service_manifest(0), "metadata": {"name": TEMPLATE, "namespace": NAMESPACE}}, FIELD_MANAGER
    )
    paths = [object_path(api, kind, NAMESPACE, CHILD) for api, kind in KINDS]
    wait_until(lambda: all(bench.kube.get(p) for p in paths), what="the children", timeout=60, interval=0.2)
    return [_portable(bench.kube.get(p)) for p in paths]


def _portable(obj: dict[str, Any] | None) -> dict[str, Any]:
    assert obj is not None
    meta = {k: v for k, v in obj["metadata"].items() if k not in SERVER_SET}
    spec = {k: v for k, v in obj["spec"].items() if k not in ("clusterIP", "clusterIPs")}
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": meta, "spec": spec}


def renamed(obj: dict[str, Any], index: int) -> dict[str, Any]:
    """The template's names and labels for service `index` (svc-0001-mlmodel, ...)."""
    name = f"svc-{index:04d}"
    text = json.dumps(obj).replace(f'"{TEMPLATE}"', f'"{name}"').replace(f"{TEMPLATE}-", f"{name}-")
    return json.loads(text)


def apply_all(kube: Kube, pair: list[dict[str, Any]], n: int, workers: int) -> float:
    def apply(index: int) -> None:
        for obj in pair:
            kube.apply(renamed(obj, index), FIELD_MANAGER)

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(apply, range(1, n + 1)))
    return time.monotonic() - start


def run_size(n: int, opts: Options) -> dict[str, Any]:
    quiet = wait_for_quiet(opts)
    with bench_cluster(n, opts, OURS) as bench:
        pair = template(bench)
        stop_process(bench.operator)
        cpu0 = cpu_snapshot(bench)
        # A watch, as the operator's runs wait on theirs: polling LISTs of N Deployments would
        # itself cost the apiserver CPU. The template's Deployment counts too (n + 1).
        watcher = ReadyWatch(bench.kube, n + 1, DEPLOYMENTS, "Available").start()
        applied = apply_all(bench.kube, pair, n, opts.apply_workers)
        watcher.all_ready.wait(opts.ready_timeout - applied)
        elapsed, count = time.monotonic() - watcher.origin, len(watcher.ready_at) - 1
        watcher.stop()
        cpu = cpu_delta(cpu_snapshot(bench), cpu0)
    cpu.pop("operator", None)
    log(f"floor N={n}: {count} Available after {elapsed:.1f} s")
    done = round(elapsed, 2) if count >= n else None
    return {"n": n, "quiet_before": quiet, "apply_seconds": round(applied, 2), "available": count,
            "all_available_seconds": done, "cpu_seconds": cpu}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000", help="comma-separated N (default %(default)s)")
    parser.add_argument("--ready-timeout", default="900", help="seconds (default %(default)s)")
    args = parser.parse_args()
    opts = cp.parse_args(["--sizes", args.sizes, "--ready-timeout", args.ready_timeout])
    runs = [run_size(n, opts) for n in opts.sizes]
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": cp.machine(),
        "runs": runs,
    }
    cp.RESULTS.mkdir(parents=True, exist_ok=True)
    (cp.RESULTS / "controlplane-floor.json").write_text(json.dumps(report, indent=1) + "\n")
    for run in runs:
        print(json.dumps(run))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
