"""What the control-plane benchmark measures, outside the operator: /proc and apiserver /metrics.

* `ProcSampler` samples one process's RSS and CPU time (/proc/<pid>/status, /proc/<pid>/stat).
* `cpu_seconds` / `system_busy_seconds` give CPU time of any pid and of the whole machine, so
  a run can tell how much CPU went to processes that are not its own (other sessions).
* `scrape_requests` reads `apiserver_request_total` and `operator_share` picks the rows the
  operator made: the apiserver has no per-client label, so rows are attributed by verb,
  resource and scope (see `is_operator`).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

CLK_TCK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
# The mlmodel kinds and everything they own or cause; leases and nodes (kwok heartbeats) excluded.
WATCHED = frozenset(
    {
        "mlmodelservices",
        "modelpackages",
        "visionservices",
        "deployments",
        "replicasets",
        "services",
        "configmaps",
        "pods",
        "events",
        "endpoints",
        "endpointslices",
        "networkpolicies",
    }
)
# Children the operator reads with GET (controllers read through informers, i.e. LIST+WATCH).
OPERATOR_GETS = frozenset(
    {
        "mlmodelservices",
        "modelpackages",
        "visionservices",
        "deployments",
        "services",
        "configmaps",
        "pods",
        "networkpolicies",
    }
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


# --- processes ---------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` in seconds (0 if it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MiB; (0, 0) if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0, 0.0
    kib = {k: int(v.split()[0]) for k, _, v in (ln.partition(":") for ln in lines) if k in ("VmRSS", "VmHWM")}
    return kib.get("VmRSS", 0) / 1024, kib.get("VmHWM", 0) / 1024


def system_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy since boot (all cores, /proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass
class ProcSampler:
    """Samples RSS of one process every `interval` s in a daemon thread (for the timeline)."""

    pid: int
    interval: float = 0.5
    origin: float = field(default_factory=time.monotonic)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (s since origin, MiB)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> ProcSampler:
        threading.Thread(target=self._run, name="proc-sampler", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            rss, _ = memory_mb(self.pid)
            if rss:
                self.samples.append((round(time.monotonic() - self.origin, 2), round(rss, 1)))

    def peak_mb(self) -> float:
        """VmHWM: the kernel's own high-water mark, so no short peak between samples is missed."""
        return memory_mb(self.pid)[1]


# --- apiserver metrics -------------------------------------------------------------------


class Key(NamedTuple):
    """One row of apiserver_request_total, without code/component/version."""

    verb: str
    group: str
    resource: str
    subresource: str
    scope: str

    @property
    def label(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        res += f"/{self.subresource}" if self.subresource else ""
        return f"{self.verb} {res} ({self.scope})"


REQUESTS = "apiserver_request_total"
SECONDS = "apiserver_request_duration_seconds_sum"  # time spent serving, per verb and resource


def parse_metric(text: str, name: str) -> Counter[Key]:
    """Sum one apiserver metric over the labels Key drops (code, component, version)."""
    values: Counter[Key] = Counter()  # float values: seconds, or counts parsed as floats
    prefix = name + "{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels_part, _, value = line.rpartition("} ")
        labels = dict(_LABEL.findall(labels_part))
        if not labels.get("resource"):
            continue  # non-resource URLs: /metrics, /readyz, /openapi
        key = Key(
            labels.get("verb", ""),
            labels.get("group", ""),
            labels["resource"],
            labels.get("subresource", ""),
            labels.get("scope", ""),
        )
        values[key] += float(value)  # type: ignore[assignment]
    return values


@dataclass(frozen=True)
class Scrape:
    """Requests served and seconds spent serving them, per verb/resource/scope."""

    requests: Counter[Key]
    seconds: Counter[Key]

    def __sub__(self, before: Scrape) -> Scrape:
        return Scrape(delta(self.requests, before.requests), delta(self.seconds, before.seconds))


def scrape(kube: Any) -> Scrape:
    """GET /metrics with the admin client (system:masters may read it)."""
    resp = kube.http.get("/metrics", headers={"Accept": "text/plain"}, timeout=30)
    resp.raise_for_status()
    text = resp.text
    requests = Counter({k: int(v) for k, v in parse_metric(text, REQUESTS).items()})
    return Scrape(requests, parse_metric(text, SECONDS))


def delta(after: Counter[Key], before: Counter[Key]) -> Counter[Key]:
    return Counter({k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0})


def is_operator(key: Key) -> bool:
    """Rows only the operator makes in this benchmark.

    The operator watches cluster-wide (kopf), GETs owners, packages and children, LISTs pods
    of one namespace, server-side applies children (verb APPLY), deletes NetworkPolicies it
    no longer wants, and merge-patches status and kopf's finalizer (PATCH on the mlmodel
    kinds). Controllers, the scheduler and kwok use informers (cluster-scoped LIST/WATCH),
    POST/PUT/PATCH pods, replicasets and deployment status. The benchmark's own requests are
    excluded: it applies MLModelServices (APPLY on the mlmodel kinds) and watches them in its
    namespace (namespace-scoped WATCH). Events are not attributed here: kopf and the
    controllers both POST core events.
    """
    if key.group == "mlmodel.dev":
        return key.verb != "APPLY" and not (key.verb == "WATCH" and key.scope == "namespace")
    if key.verb == "APPLY":
        return True
    if key.verb == "GET":
        return key.resource in OPERATOR_GETS
    if key.verb == "DELETE":
        return key.resource == "networkpolicies"
    return key.verb == "LIST" and key.scope == "namespace" and key.resource == "pods"


def operator_share(counts: Counter[Key]) -> Counter[Key]:
    return Counter({k: v for k, v in counts.items() if is_operator(k)})


def writes(counts: Counter[Key], resources: Iterable[str] = WATCHED) -> Counter[Key]:
    wanted = set(resources)
    return Counter({k: v for k, v in counts.items() if k.verb in WRITE_VERBS and k.resource in wanted})


def by_label(counts: Counter[Key], digits: int = 0) -> dict[str, float]:
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return {k.label: round(v, digits) if digits else v for k, v in ordered}


def by_verb(counts: Counter[Key]) -> dict[str, int]:
    verbs: Counter[str] = Counter()
    for key, value in counts.items():
        verbs[key.verb] += value
    return dict(verbs.most_common())


def non_watch(values: Counter[Key]) -> Counter[Key]:
    """Watches are long-lived requests; their serving time says nothing about cost."""
    return Counter({k: v for k, v in values.items() if k.verb not in ("WATCH", "CONNECT")})
