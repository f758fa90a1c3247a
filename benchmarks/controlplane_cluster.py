"""The bench for one N: a fresh local cluster with the controller under test running, and CPU.

Why a fresh cluster per N: the apiserver's counters, etcd and the controller's caches would
otherwise carry one size's work into the next. `bench_cluster` gives each N enough kwok nodes
(hack/localcluster.py: etcd, kube-apiserver, controller-manager, scheduler and kwok nodes
whose pods turn Ready without containers), starts the subject (controlplane_subjects.py), lets
its startup settle, samples its RSS while the caller measures, and leaves nothing behind
(unless --keep).

Why the CPU bookkeeping: the machine is shared, and a neighbour's build changes every timing.
`cpu_snapshot`/`cpu_delta` book CPU seconds to the operator, the benchmark, each cluster
component and, as the rest, other processes; `wait_for_quiet` waits for neighbours to calm
down before a size starts.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))

import controlplane_probes as probes
from controlplane_subjects import Options, Subject
from localcluster import LocalCluster, stop_process
from mlmodel_operator.k8s.client import Kube

PODS_PER_NODE = 1100  # NODE_RESOURCES in hack/clusterkit/nodes.py


@dataclass
class Bench:
    """One cluster with the operator running, for one N."""

    cluster: LocalCluster
    kube: Kube
    operator: subprocess.Popen[bytes]
    log: Path
    metrics_url: str
    sampler: probes.ProcSampler
    subject: Subject
    extra: dict[str, Any] = field(default_factory=dict)


def log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


def admin_kube(kubeconfig: Path, pool: int) -> Kube:
    """The operator's own thin client, with a connection pool as large as the apply pool."""
    return Kube.from_kubeconfig(str(kubeconfig), pool_size=pool)


@contextlib.contextmanager
def bench_cluster(n: int, opts: Options, subject: Subject) -> Iterator[Bench]:
    """A fresh cluster with enough kwok capacity and the controller under test idle."""
    workdir = Path(tempfile.mkdtemp(prefix=f"cp-bench-{n}-"))
    nodes = max(2, math.ceil(n / PODS_PER_NODE) + 1)
    cluster = LocalCluster(workdir / "cluster", nodes=nodes, die_with_parent=True)
    proc = None
    try:
        cluster.start()
        kube = admin_kube(cluster.kubeconfig, opts.apply_workers + 4)
        proc, log_path, metrics_url, facts = subject.start(cluster, kube, workdir, opts)
        time.sleep(2)  # let the controller's startup listing and timers' first round settle
        sampler = probes.ProcSampler(proc.pid).start()
        extra = {"nodes": nodes, **facts}
        yield Bench(cluster, kube, proc, log_path, metrics_url, sampler, subject, extra)
    finally:
        if proc is not None:
            stop_process(proc)
        cluster.stop(quiet=True)
        if opts.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def wait_for_quiet(opts: Options, window: float = 5.0) -> dict[str, float]:
    """Wait (at most `quiet_wait` s) until other processes use under `quiet_cores` cores.

    Why: the machine is shared; a neighbour's build or test run changes every timing here.
    The level found is recorded either way, next to the CPU the run's own processes used.
    """
    deadline, waited = time.monotonic() + opts.quiet_wait, time.monotonic()
    while True:
        busy0, own0 = probes.system_busy_seconds(), probes.cpu_seconds(os.getpid())
        time.sleep(window)
        busy1, own1 = probes.system_busy_seconds(), probes.cpu_seconds(os.getpid())
        others = ((busy1 - busy0) - (own1 - own0)) / window
        if others < opts.quiet_cores or time.monotonic() >= deadline:
            return {"others_cores": round(others, 2), "waited_seconds": round(time.monotonic() - waited, 1)}


def cpu_snapshot(bench: Bench) -> dict[str, float]:
    pids = {"operator": bench.operator.pid, "benchmark": os.getpid(), **bench.cluster.running_components()}
    return {
        "machine": probes.system_busy_seconds(),
        **{name: probes.cpu_seconds(pid) for name, pid in pids.items()},
    }


def cpu_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    out = {k: round(after[k] - before.get(k, 0.0), 2) for k in after}
    out["other_processes"] = round(out["machine"] - sum(v for k, v in out.items() if k != "machine"), 2)
    return out
