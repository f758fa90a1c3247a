"""The burst and the idle window of one N: what the controller costs with work, and without.

The burst: N services server-side applied at once from a thread pool while a watch notes when
each turns Ready; measured are the apply time, the time until all are Ready, where that time
goes (`pipeline`, from the objects' own timestamps), CPU, and the requests per service. The
idle window after it: nothing changes, so every write is one too many, and the reads are the
price of the controller's resyncs.

Requests are counted twice because the apiserver cannot tell clients apart: by its
apiserver_request_total (all clients, and the rows attributed to the subject: `share`, see
controlplane_probes.py), and by the subject's own counters, which are exact. Its Events are
counted by reporting component.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2

import controlplane_probes as probes
from controlplane_cluster import Bench, cpu_delta, cpu_snapshot
from controlplane_subjects import NAMESPACE, Options, Subject, condition
from mlmodel_operator.k8s.client import Kube, collection_path

FIELD_MANAGER = "controlplane-benchmark"
# The operator's own count by method: a LIST is a GET; WATCH counts the pod watches it starts.
READ_METHODS = frozenset({"GET", "WATCH"})


# --- the burst -------------------------------------------------------------------------------


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
    """Watches the objects at `path` and notes when each first has `condition_type`=True
    (Ready for the services; the floor watches Deployments for Available)."""

    def __init__(self, kube: Kube, expected: int, path: str, condition_type: str = "Ready") -> None:
        self.kube, self.expected, self.path = kube, expected, path
        self.condition_type = condition_type
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
        if condition(obj, self.condition_type) == "True":
            self.ready_at.setdefault(name, round(time.monotonic() - self.origin, 2))
        else:
            self.ready_at.pop(name, None)
        if len(self.ready_at) >= self.expected:
            self.all_ready.set()


def counter_delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}


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


# --- where the time goes ---------------------------------------------------------------------


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


# --- the idle window -------------------------------------------------------------------------


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


# --- the rest of a run's report --------------------------------------------------------------


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
