"""Control plane scale: N MLModelServices applied at once, until all are Ready, then idle.

    python3 benchmarks/controlplane.py [--sizes 100,500,1000] [--idle-seconds 90]

For each N, on a fresh local control plane (hack/localcluster.py: etcd, kube-apiserver,
controller-manager, scheduler and kwok nodes whose pods turn Ready without containers):

1. the CRDs, a namespace enforcing PSS `restricted`, one ModelPackage whose only version is a
   ConfigMap holding tests/fixtures/models/classifier_uint8.tflite with its real sha256;
2. the operator as tests/cluster/operator_fixtures.py starts it (`python -m mlmodel_operator
   --standalone`, admin kubeconfig) but with the production resync interval (60 s);
3. N MLModelServices (replicas 1) server-side applied from a thread pool, then a watch waits
   until every one has condition Ready=True;
4. after a short settle, an idle window in which nothing changes.

Measured: apply time, time until all Ready (and per-service ready times), operator peak RSS
(VmHWM) and CPU seconds, apiserver_request_total before/after (all clients, and the rows only
the operator makes, per service by verb and resource), Kubernetes Events by reporter, the
writes per minute on the mlmodel kinds and their children during the idle window, and the
operator's own reads per minute there. Targets: 1000 Ready in < 120 s, RSS < 250 MB, at most
5 operator requests per service, no write while idle. Results:
benchmarks/results/controlplane.json and .png.
`--operator-env KEY=VALUE` passes settings the operator reads (e.g. the resync interval) to
try a change; `--tag` then keeps those results apart (controlplane-<tag>.json).

`--peer kserve` measures KServe's controller instead, the same way on the same kind of cluster:
its manager built from its Go module (hack/build-kserve.sh), N InferenceServices in
RawDeployment mode (benchmarks/peers/kserve_controller.py); results go to
controlplane-peer-kserve.json with the same fields (`operator` there means the peer).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

import httpx2  # noqa: E402

import controlplane_probes as probes  # noqa: E402
from controlplane_report import markdown_table, plot  # noqa: E402
from localcluster import LocalCluster, free_ports, stop_process, wait_until  # noqa: E402
from mlmodel_operator.events import COMPONENT as EVENT_REPORTER  # noqa: E402
from mlmodel_operator.k8s.client import Kube, collection_path, object_path  # noqa: E402

GROUP, API = "mlmodel.dev", "mlmodel.dev/v1alpha1"
NAMESPACE = "cp-bench"
PACKAGE = "bench-model"
MODEL = REPO / "tests" / "fixtures" / "models" / "classifier_uint8.tflite"
RESULTS = REPO / "benchmarks" / "results"
FIELD_MANAGER = "controlplane-benchmark"
KIB_PER_GIB = 1024 * 1024
PODS_PER_NODE = 1100  # NODE_RESOURCES in hack/clusterkit/nodes.py
TARGETS = {
    "all_ready_seconds_at_1000": 120,
    "peak_rss_mb": 250,
    "idle_writes_per_min": 0,
    "operator_requests_per_service": 5,
}
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    idle_seconds: float
    settle_seconds: float
    ready_timeout: float
    apply_workers: int
    operator_env: dict[str, str]
    tag: str
    keep: bool
    quiet_cores: float = 0.5
    quiet_wait: float = 45.0
    replot: bool = False
    peer: str = ""  # "": our operator; "kserve": KServe's controller (benchmarks/peers/)


@dataclass(frozen=True)
class Subject:
    """What a run measures: our operator, or a peer controller serving its own kind.

    Everything a run needs to tell about the controller under test: how to install and start
    it (`start`, returns the process, its log, its metrics URL and facts for the report), the
    objects applied, the kind watched for Ready, its own request counters, which apiserver rows
    are its own (`share`), the kinds whose writes the idle window counts, its Events' reporter.
    """

    name: str
    start: Callable[
        [LocalCluster, Kube, Path, Options], tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]
    ]
    manifest: Callable[[int], dict[str, Any]]
    api: str  # group/version of the served kind
    plural: str  # its resource name
    counters: Callable[[str], dict[str, float]]
    share: Callable[[Counter[probes.Key]], Counter[probes.Key]]
    watched: frozenset[str]
    event_reporter: str

    def path(self, name: str | None = None) -> str:
        collection = f"/apis/{self.api}/namespaces/{NAMESPACE}/{self.plural}"
        return collection if name is None else f"{collection}/{name}"


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


# --- cluster and operator ----------------------------------------------------------------


def admin_kube(kubeconfig: Path, pool: int) -> Kube:
    """The operator's own thin client, with a connection pool as large as the apply pool."""
    return Kube.from_kubeconfig(str(kubeconfig), pool_size=pool)


def prepare_cluster(cluster: LocalCluster, kube: Kube) -> None:
    """CRDs, the namespace (PSS restricted) and its default ServiceAccount."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    for crd in ("modelpackages", "mlmodelservices", "visionservices"):
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd}.{GROUP}")
    make_namespace(kube, RESTRICTED)


def make_namespace(kube: Kube, labels: dict[str, str]) -> None:
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE, "labels": labels}})
    # Until the default ServiceAccount exists, admission rejects every pod of the namespace.
    sa = f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"
    wait_until(lambda: kube.get(sa), what="the default ServiceAccount", timeout=30, interval=0.2)


def seed_package(kube: Kube) -> None:
    """One ModelPackage version from a ConfigMap: verified from real bytes, no network."""
    data = MODEL.read_bytes()
    kube.request(
        "POST",
        collection_path("v1", "ConfigMap", NAMESPACE),
        body={"metadata": {"name": PACKAGE}, "binaryData": {"model.tflite": base64.b64encode(data).decode()}},
    )
    version = {
        "version": "v1",
        "latest": True,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": {"configMap": {"name": PACKAGE, "key": "model.tflite"}},
    }
    kube.request(
        "POST",
        collection_path(API, "ModelPackage", NAMESPACE),
        body={
            "apiVersion": API,
            "kind": "ModelPackage",
            "metadata": {"name": PACKAGE},
            "spec": {"versions": [version]},
        },
    )


def _die_with_parent() -> None:
    """In the operator before exec: SIGKILL it if the benchmark dies without cleaning up."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_operator(
    cluster: LocalCluster,
    workdir: Path,
    extra_env: dict[str, str],
) -> tuple[subprocess.Popen[bytes], Path, str]:
    port, metrics_port = free_ports(2)
    log_path = workdir / "operator.log"
    env = {
        **os.environ,
        "KUBECONFIG": str(cluster.kubeconfig),
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "operator"), str(REPO / "server"), os.environ.get("PYTHONPATH", "")]
        ),
        "MLMODEL_OPERATOR_LIVENESS_PORT": str(port),
        "MLMODEL_OPERATOR_METRICS_PORT": str(metrics_port),
        "MLMODEL_OPERATOR_IMAGE": "registry.invalid/mlmodel:bench",
        **extra_env,
    }
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlmodel_operator", "--standalone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"operator exited {proc.returncode}: {log_path.read_text()[-2000:]}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    wait_until(healthy, what="the operator's liveness endpoint", timeout=60)
    return proc, log_path, f"http://127.0.0.1:{metrics_port}/metrics"


def operator_counters(metrics_url: str) -> dict[str, float]:
    """The operator's own counts (its Prometheus metrics): MLModelService reconcile passes,
    and API requests by method. Exact where the apiserver's metrics can only be attributed."""
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    out: Counter[str] = Counter()
    for line in text.splitlines():
        if line.startswith("mlmodel_operator_reconcile_total{") and 'kind="MLModelService"' in line:
            out["passes"] += float(line.rsplit(" ", 1)[-1])
        elif found := re.match(r'mlmodel_operator_api_requests_total\{.*method="([^"]+)".*\} (\S+)$', line):
            out[found.group(1)] += float(found.group(2))
    return dict(out)


def counter_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


def condition(obj: dict[str, Any] | None, type_: str) -> str:
    conds = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c.get("status", "") for c in conds if c.get("type") == type_), "")


def start_ours(
    cluster: LocalCluster, kube: Kube, workdir: Path, opts: Options
) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]:
    """CRDs, namespace, the package verified, the operator running."""
    prepare_cluster(cluster, kube)
    seed_package(kube)
    source = operator_source()  # the operator may change between runs of one session
    proc, log_path, metrics_url = start_operator(cluster, workdir, opts.operator_env)
    package = object_path(API, "ModelPackage", NAMESPACE, PACKAGE)
    wait_until(
        lambda: condition(kube.get(package), "Ready") == "True",
        what="the ModelPackage Ready",
        timeout=60,
        interval=0.2,
    )
    return proc, log_path, metrics_url, {"operator_source": source}


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


# --- the burst ---------------------------------------------------------------------------


def service_manifest(index: int) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "MLModelService",
        "metadata": {"name": f"svc-{index:04d}", "namespace": NAMESPACE},
        "spec": {
            "attributes": {"model_path": "${packages.classifier}/model.tflite", "num_threads": 1},
            "packages": [{"name": "classifier", "package": PACKAGE, "version": "latest"}],
            "replicas": 1,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        },
    }


def apply_services(kube: Kube, n: int, workers: int, subject: Subject) -> float:
    """Server-side apply N services from `workers` threads; returns the seconds it took."""

    def apply(index: int) -> None:
        obj = subject.manifest(index)
        kube.request(
            "PATCH",
            subject.path(obj["metadata"]["name"]),
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type="application/apply-patch+yaml",
        )

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(apply, range(n)))
    return time.monotonic() - start


class ReadyWatch:
    """Watches the namespace's services (at `path`) and notes when each first has Ready=True."""

    def __init__(self, kube: Kube, expected: int, path: str) -> None:
        self.kube, self.expected, self.path = kube, expected, path
        self.origin = time.monotonic()
        self.ready_at: dict[str, float] = {}
        self.all_ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ready-watch", daemon=True)

    def start(self) -> ReadyWatch:
        self.origin = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=20)

    def _run(self) -> None:
        """A plain watch (JSON lines) over the admin client's connection, restarted every 10 s."""
        path, version = self.path, None
        while not self._stop.is_set():
            params = {
                "watch": "1",
                "timeoutSeconds": "10",
                **({"resourceVersion": version} if version else {}),
            }
            try:
                with self.kube.http.stream("GET", path, params=params, timeout=30) as resp:
                    if not resp.is_success:
                        version = None  # 410 Gone: start over, replaying every object
                        continue
                    for line in resp.iter_lines():
                        event = json.loads(line) if line else None
                        if not event:
                            continue
                        if event["type"] == "ERROR":
                            version = None  # 410 Gone inside the stream
                            break
                        version = event["object"]["metadata"].get("resourceVersion", version)
                        self._record(event["object"])
                        if self._stop.is_set():
                            break
            except httpx2.TransportError:
                time.sleep(0.5)

    def _record(self, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if condition(obj, "Ready") == "True":
            self.ready_at.setdefault(name, round(time.monotonic() - self.origin, 2))
        else:
            self.ready_at.pop(name, None)
        if len(self.ready_at) >= self.expected:
            self.all_ready.set()


# --- measuring ---------------------------------------------------------------------------


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


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _true_since(obj: dict[str, Any], type_: str) -> datetime | None:
    conds = (obj.get("status") or {}).get("conditions") or []
    found: dict[str, Any] = next(
        (c for c in conds if c.get("type") == type_ and c.get("status") == "True"), {}
    )
    return _time(found.get("lastTransitionTime"))


def pipeline(kube: Kube, started: datetime, services_path: str) -> dict[str, dict[str, float | None]]:
    """When each step of each service happened, from the objects' own timestamps (1 s resolution).

    Tells where the time goes: the operator's first pass (Deployment created), the
    controllers (pod created), kwok (pod Ready), the deployment controller (Available) and
    the operator's status pass (the MLModelService's Ready).
    """
    deployments = kube.list(collection_path("apps/v1", "Deployment", NAMESPACE))
    pods = kube.list(collection_path("v1", "Pod", NAMESPACE))
    services = kube.list(services_path)
    marks = {
        "deployment_created": [_time(d["metadata"]["creationTimestamp"]) for d in deployments],
        "pod_created": [_time(p["metadata"]["creationTimestamp"]) for p in pods],
        "pod_ready": [_true_since(p, "Ready") for p in pods],
        "deployment_available": [_true_since(d, "Available") for d in deployments],
        "service_ready": [_true_since(s, "Ready") for s in services],
    }
    out = {}
    for stage, stamps in marks.items():
        seconds = [(t - started).total_seconds() for t in stamps if t is not None]
        out[stage] = {
            "count": len(seconds),
            "p50": percentile(seconds, 0.5),
            "p90": percentile(seconds, 0.9),
            "max": max(seconds, default=None),
        }
    return out


def measure_burst(bench: Bench, n: int, opts: Options) -> dict[str, Any]:
    kube, subject = bench.kube, bench.subject
    before, cpu0 = probes.scrape(kube), cpu_snapshot(bench)
    own0 = subject.counters(bench.metrics_url)
    started = datetime.now(UTC)
    watcher = ReadyWatch(kube, n, subject.path()).start()
    apply_seconds = apply_services(kube, n, opts.apply_workers, subject)
    done = watcher.all_ready.wait(opts.ready_timeout - apply_seconds)
    elapsed = time.monotonic() - watcher.origin
    after, cpu1 = probes.scrape(kube), cpu_snapshot(bench)
    own = counter_delta(subject.counters(bench.metrics_url), own0)
    events = events_by_reporter(kube, since=started).get(subject.event_reporter, 0)
    watcher.stop()
    times = sorted(watcher.ready_at.values())
    return {
        "apply_seconds": round(apply_seconds, 2),
        "all_ready": done,
        "all_ready_seconds": round(elapsed, 2) if done else None,
        "ready_count": len(times),
        "ready_p50_seconds": percentile(times, 0.5),
        "ready_p90_seconds": percentile(times, 0.9),
        "ready_times": times,
        "pipeline": pipeline(kube, started, subject.path()),
        "cpu_seconds": cpu_delta(cpu1, cpu0),
        "others_cores": round(cpu_delta(cpu1, cpu0)["other_processes"] / elapsed, 2),
        "requests": request_summary(after - before, n, own, events, subject),
        "load_avg_1m": os.getloadavg()[0],
    }


def request_summary(
    diff: probes.Scrape, n: int, own: dict[str, float], events: int, subject: Subject
) -> dict[str, Any]:
    """Requests of the burst: all clients' (apiserver metrics), the operator's by attribution
    (`probes.is_operator`, which also splits them by resource), its Events (by reporting
    component: the apiserver cannot tell whose a POST of an Event is), and its own count."""
    counts, seconds = diff.requests, probes.non_watch(diff.seconds)
    mine = subject.share(counts)
    by_request = {**probes.by_label(mine), "POST events (operator's, by reporter)": events}
    passes = own.pop("passes", 0.0)
    own_total = sum(own.values())
    total = sum(mine.values())
    return {
        "all_clients": probes.by_label(counts),
        "operator": probes.by_label(mine),
        "apiserver_seconds_all_clients": probes.by_label(seconds, 1),
        "apiserver_seconds_operator_share": round(
            sum(subject.share(seconds).values()) / max(sum(seconds.values()), 1e-9), 2
        ),
        "operator_total": total,
        "operator_per_service": round(total / n, 2),
        "operator_per_service_by_verb": {k: round(v / n, 2) for k, v in probes.by_verb(mine).items()},
        "operator_per_service_by_request": {k: round(v / n, 2) for k, v in by_request.items()},
        "operator_events_per_service": round(events / n, 2),
        "operator_writes_per_service": round(sum(probes.writes(mine, subject.watched).values()) / n, 2),
        "operator_own_requests": own,
        "operator_own_per_service": round(own_total / n, 2),
        "reconcile_passes": passes,
        "reconcile_passes_per_service": round(passes / n, 2),
        "operator_requests_per_reconcile_pass": round(own_total / passes, 2) if passes else None,
    }


ALL = frozenset(probes.WATCHED | {"mlmodelservices"})
# The operator's own count by method: a LIST is a GET; WATCH counts the pod watches it starts.
READ_METHODS = frozenset({"GET", "WATCH"})


def measure_idle(bench: Bench, opts: Options) -> dict[str, Any]:
    """Nothing changes; every write in this window is one too many."""
    subject = bench.subject
    time.sleep(opts.settle_seconds)
    started = datetime.now(UTC)
    before, cpu0 = probes.scrape(bench.kube), cpu_snapshot(bench)
    own0 = subject.counters(bench.metrics_url)
    time.sleep(opts.idle_seconds)
    after, cpu1 = probes.scrape(bench.kube), cpu_snapshot(bench)
    own = counter_delta(subject.counters(bench.metrics_url), own0)
    own.pop("passes", None)
    diff = after - before
    counts, cpu = diff.requests, cpu_delta(cpu1, cpu0)
    per_min = 60.0 / opts.idle_seconds
    watched = subject.watched
    writes_all, writes_op = probes.writes(counts, watched), probes.writes(subject.share(counts), watched)
    reads = {k: v for k, v in own.items() if k in READ_METHODS}
    # The operator's Events are among the core POST events counted by the apiserver here.
    posted = writes_all.get(probes.Key("POST", "", "events", "", "resource"), 0)
    operator_events = min(
        events_by_reporter(bench.kube, since=started).get(subject.event_reporter, 0), posted
    )
    return {
        "settle_seconds": opts.settle_seconds,
        "seconds": opts.idle_seconds,
        "writes_per_min_all": round(sum(writes_all.values()) * per_min, 1),
        "writes_per_min_operator": round((sum(writes_op.values()) + operator_events) * per_min, 1),
        "writes_all": probes.by_label(writes_all),
        "writes_operator": probes.by_label(writes_op),
        "operator_events": operator_events,
        "operator_requests_per_min": round(sum(subject.share(counts).values()) * per_min, 1),
        "operator_own_requests_per_min": {k: round(v * per_min, 1) for k, v in own.items()},
        "reads_per_min_operator": round(sum(reads.values()) * per_min, 1),
        "operator_requests": probes.by_label(subject.share(counts)),
        "apiserver_seconds_all_clients": probes.by_label(probes.non_watch(diff.seconds), 1),
        "cpu_seconds": cpu,
        "others_cores": round(cpu["other_processes"] / opts.idle_seconds, 2),
        "load_avg_1m": os.getloadavg()[0],
    }


def events_by_reporter(kube: Kube, since: datetime | None = None) -> Counter[str]:
    """Kubernetes Events in the namespace by reporting component (EVENT_REPORTER = ours)."""
    out: Counter[str] = Counter()
    for event in kube.list(collection_path("v1", "Event", NAMESPACE)):
        created = datetime.fromisoformat(event["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
        if since is None or created >= since.replace(microsecond=0):
            out[event.get("reportingComponent") or (event.get("source") or {}).get("component", "?")] += 1
    return out


def operator_event_reasons(kube: Kube, reporter: str) -> dict[str, int]:
    reasons = Counter(
        e.get("reason", "")
        for e in kube.list(collection_path("v1", "Event", NAMESPACE))
        if (e.get("reportingComponent") or (e.get("source") or {}).get("component")) == reporter
    )
    return dict(reasons.most_common())


def log_summary(log: Path) -> dict[str, Any]:
    lines = log.read_text(errors="replace").splitlines()
    # Ours logs " ERROR "/" WARNING "; controller-runtime (the peer) logs JSON lines.
    bad = [ln for ln in lines if " ERROR " in ln or " WARNING " in ln or '"level":"error"' in ln]
    return {"lines": len(lines), "warnings_or_errors": len(bad), "last": [ln[:300] for ln in bad[-5:]]}


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


def operator_summary(
    bench: Bench, burst: dict[str, Any], idle: dict[str, Any], opts: Options, rss_start: float
) -> dict[str, Any]:
    return {
        "rss_before_mb": round(rss_start, 1),
        "peak_rss_mb": round(bench.sampler.peak_mb(), 1),
        "rss_end_mb": round(probes.memory_mb(bench.operator.pid)[0], 1),
        "cpu_seconds_burst": burst["cpu_seconds"]["operator"],
        "cpu_seconds_idle_per_min": round(idle["cpu_seconds"]["operator"] * 60 / opts.idle_seconds, 2),
        "rss_timeline": bench.sampler.samples[::4],
        "log": log_summary(bench.log),
    }


def run_size(n: int, opts: Options, subject: Subject) -> dict[str, Any]:
    quiet = wait_for_quiet(opts)
    log(f"N={n}: starting a cluster for {subject.name} (other processes use {quiet['others_cores']} cores)")
    with bench_cluster(n, opts, subject) as bench:
        rss_start = probes.memory_mb(bench.operator.pid)[0]
        burst = measure_burst(bench, n, opts)
        log(f"N={n}: {burst['ready_count']} Ready after {burst['all_ready_seconds']} s")
        idle = measure_idle(bench, opts)
        bench.sampler.stop()
        return {
            "n": n,
            **bench.extra,
            "quiet_before": quiet,
            "burst": burst,
            "idle": idle,
            "operator": operator_summary(bench, burst, idle, opts, rss_start),
            "events_by_reporter": dict(events_by_reporter(bench.kube).most_common()),
            "operator_event_reasons": operator_event_reasons(bench.kube, subject.event_reporter),
        }


def log(message: str) -> None:
    print(f"[controlplane] {message}", file=sys.stderr, flush=True)


# --- entry point -------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,500,1000", help="comma-separated N (default %(default)s)")
    parser.add_argument("--idle-seconds", type=float, default=90.0)
    parser.add_argument("--settle-seconds", type=float, default=10.0)
    parser.add_argument("--ready-timeout", type=float, default=240.0)
    parser.add_argument("--apply-workers", type=int, default=16)
    parser.add_argument("--operator-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tag", default="", help="results go to controlplane-<tag>.json/.png")
    parser.add_argument("--keep", action="store_true", help="keep the work dirs (logs, etcd)")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.5,
        help="before each N, wait until other processes use fewer cores than this",
    )
    parser.add_argument("--quiet-wait", type=float, default=45.0, help="at most this long (s)")
    parser.add_argument("--replot", action="store_true", help="only redraw the PNG and table from the JSON")
    parser.add_argument(
        "--peer",
        choices=["kserve"],
        default="",
        help="measure a peer controller instead of ours (results: controlplane-peer-<peer>[-<tag>].json)",
    )
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.operator_env)
    return Options(
        tuple(int(s) for s in args.sizes.split(",")),
        args.idle_seconds,
        args.settle_seconds,
        args.ready_timeout,
        args.apply_workers,
        env,
        args.tag,
        args.keep,
        args.quiet_cores,
        args.quiet_wait,
        args.replot,
        args.peer,
    )


def machine() -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1]
    return {
        "cores": os.cpu_count(),
        "mem_gib": round(int(mem) / KIB_PER_GIB, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def operator_source() -> dict[str, str]:
    """Which operator was measured: the commit and a digest of operator/ as it is on disk."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "operator" / "mlmodel_operator").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {"commit": head, "operator_tree_sha256": digest.hexdigest()[:16]}


def replot(stem: str) -> int:
    """Redraw the PNG and print the table from a saved report (--replot)."""
    report = json.loads((RESULTS / f"{stem}.json").read_text())
    plot(report, RESULTS / f"{stem}.png")
    print(markdown_table(report))
    return 0


OURS = Subject(
    name="mlmodel-operator",
    start=start_ours,
    manifest=service_manifest,
    api=API,
    plural="mlmodelservices",
    counters=operator_counters,
    share=probes.operator_share,
    watched=ALL,
    event_reporter=EVENT_REPORTER,
)


def kserve_subject() -> Subject:
    """KServe's controller (benchmarks/peers/kserve_controller.py), built on first use."""
    sys.path.insert(0, str(REPO / "benchmarks" / "peers"))
    import kserve_controller as peer

    root = peer.build()

    def start(
        cluster: LocalCluster, kube: Kube, workdir: Path, opts: Options
    ) -> tuple[subprocess.Popen[bytes], Path, str, dict[str, Any]]:
        # No PSS label: KServe's pods (its storage-initializer included) set no restricted
        # securityContext, and admission would reject every one.
        make_namespace(kube, {})
        wait_until(
            lambda: kube.get(f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/default"),
            what="the default ServiceAccount",
            timeout=30,
            interval=0.2,
        )
        return peer.start(cluster, kube, workdir, root)

    return Subject(
        name=f"kserve-controller {peer.version(root)}",
        start=start,
        manifest=lambda index: peer.service_manifest(index, NAMESPACE),
        api=peer.API,
        plural="inferenceservices",
        counters=peer.counters,
        share=peer.share,
        watched=peer.WATCHED,
        event_reporter=peer.EVENT_REPORTER,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks
    stem = "controlplane" + (f"-peer-{opts.peer}" if opts.peer else "") + (f"-{opts.tag}" if opts.tag else "")
    if opts.replot:
        return replot(stem)
    subject = kserve_subject() if opts.peer == "kserve" else OURS
    report: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "targets": TARGETS,
        "subject": subject.name,
        "operator_env": opts.operator_env,
        "note": "CPU is shared with whatever else runs on the machine; see cpu_seconds.other_processes",
        "runs": [],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    for n in opts.sizes:
        report["runs"].append(run_size(n, opts, subject))
        (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report, RESULTS / f"{stem}.png")
    print(markdown_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
