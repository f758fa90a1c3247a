"""What the Deployment and its pods say about a serving owner (pure).

New pods are told from old ones by the template-hash annotation the builder
stamps: a failing init container or crash loop among *new* pods while old
pods are still available is a failed rollout (Degraded), not an outage.

Which versions serve is read from the Ready pods' own `mlmodel.dev/packages`
annotation, never from what was applied: a rollout that never finishes leaves the
old version serving, and status must say so.

A pod that has crashed stays failed in every phase of the kubelet's back-off
(waiting in CrashLoopBackOff, running again, terminated again) until it turns
Ready: otherwise the phase would flap between Degraded and Deploying with every
restart, and post an Event each time.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from mlmodel_operator.builders.common import ANNOTATION_PACKAGES, ANNOTATION_TEMPLATE_HASH
from mlmodel_operator.status.conditions import FALSE, TRUE, Cond

BAD_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)
# The kubelet alternates these while it retries a pull; one reason keeps the phase still.
_SAME_FAILURE = {"ErrImagePull": "ImagePullBackOff"}
# How `mlmodel serve` says its self-test refused the model (mlmodel_server/selftest.py).
SELF_TEST_FAILURE = "mlmodel serve: error: self-test"
SERVER_CONTAINER = "server"


@dataclass(frozen=True)
class Served:
    """One package version the Ready pods run, and on how many of them."""

    name: str
    version: str
    sha256: str
    ready_replicas: int

    def to_status(self, package: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "sha256": self.sha256}
        if package:
            out["package"] = package
        return {**out, "readyReplicas": self.ready_replicas}


@dataclass(frozen=True)
class SelfTests:
    """What the Ready pods say about the server's self-test: a pod turns Ready only after its
    server answered one, so a Ready pod whose container ran has passed it; a Ready pod whose
    container has no ID ran nothing (kwok's simulated pods), so nothing was tested."""

    passed: tuple[Served, ...] = ()  # the versions the Ready pods that ran a server serve
    pods: int = 0  # how many such pods
    latest: str = ""  # the latest Ready transition among them: the last self-test passed
    simulated_nodes: tuple[str, ...] = ()  # nodes of Ready pods no container runtime ran


@dataclass(frozen=True)
class Workload:
    """Available/Progressing conditions plus the phase the workload alone implies, and
    the versions the Ready pods run (`serving`) and how many of those ran a self-test."""

    available: Cond
    progressing: Cond
    phase: str
    ready_replicas: int = 0
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    serving: tuple[Served, ...] = ()
    self_tests: SelfTests = field(default_factory=SelfTests)


def _termination(message: str) -> tuple[str | None, str]:
    """(the stable reason, if it says one; the one line that says what went wrong).

    `mlmodel fetch`, and `mlmodel serve` on a model that cannot serve, write {"reason": ...,
    "error": ...} to the termination log (their reasons: docs/operator.md, Troubleshooting).
    The server container uses `terminationMessagePolicy: FallbackToLogsOnError`, so on any
    other exit its message is the tail of its log, whose last line is `mlmodel serve: error:
    ...` (or a traceback's last line).
    """
    try:
        data = json.loads(message)
    except ValueError:
        cut = _CUT_FAILURE.match(message)  # the kubelet kept only the file's head
        return (cut[1], _last_line(cut[2])) if cut else (None, _last_line(message))
    if not isinstance(data, dict):
        return None, _last_line(message)
    reason = data.get("reason")
    return (str(reason) if _is_reason(reason) else None), str(data.get("error", message))


# A condition reason as the API server accepts it: CamelCase, a letter first.
_REASON = r"[A-Za-z][A-Za-z0-9]{0,63}"
_CUT_FAILURE = re.compile(rf'\{{"reason": "({_REASON})", "error": "(.*)', re.S)


def _is_reason(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(_REASON, value) is not None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _failed_exit(status: dict[str, Any]) -> dict[str, Any] | None:
    """The container's last non-zero exit, if it has not succeeded since.

    Read from `state` or `lastState`, so it is the same whether the container waits in
    back-off, runs again or has just exited.
    """
    term = (status.get("state") or {}).get("terminated")
    if term and term.get("exitCode", 0) == 0:
        return None
    for found in (term, (status.get("lastState") or {}).get("terminated")):
        if found and found.get("exitCode", 0) != 0:
            return dict(found)
    return None


def _last_failure(status: dict[str, Any]) -> tuple[str | None, str]:
    """The stated reason and one-line message of the container's last non-zero exit
    (see _failed_exit); (None, "") when it has none."""
    found = _failed_exit(status)
    if found is None:
        return None, ""
    message = found.get("message") or found.get("reason") or f"exit {found.get('exitCode')}"
    reason, line = _termination(message)
    return reason, line or f"exit {found.get('exitCode')}"


def _crash_reason(status: dict[str, Any], stated: str | None, detail: str) -> str:
    """Why the server exits: the kernel killed it for its memory, the reason it stated
    (the model cannot serve: `NotTFLite`, `LabelsMismatch`, ...), its self-test refused the
    model (a server that states no reason), or another error (its message says which)."""
    if (_failed_exit(status) or {}).get("reason") == "OOMKilled":
        return "OOMKilled"
    if stated:
        return stated
    if detail.startswith(SELF_TEST_FAILURE):
        return "SelfTestFailed"
    return "CrashLoopBackOff"


def _waiting(status: dict[str, Any]) -> tuple[str, str] | None:
    waiting = (status.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") not in BAD_WAITING:
        return None
    return _SAME_FAILURE.get(waiting["reason"], waiting["reason"]), str(waiting.get("message", ""))


def _init_failure(status: dict[str, Any]) -> tuple[str, str] | None:
    name, (stated, detail) = status.get("name", "?"), _last_failure(status)
    if detail:
        return stated or "InitContainerFailed", f"init container {name} failed: {detail}"
    waiting = _waiting(status)
    if waiting:
        return waiting[0], f"init container {name}: {waiting[1]}".strip()
    return None


def _container_failure(status: dict[str, Any]) -> tuple[str, str] | None:
    name, (stated, detail) = status.get("name", "?"), _last_failure(status)
    if detail:
        reason = _crash_reason(status, stated, detail)
        if reason == "OOMKilled":
            detail = "killed at its memory limit; the model needs a higher resources.limits.memory"
        return reason, f"container {name}: {reason}: {detail}"
    waiting = _waiting(status)
    if waiting:
        reason, message = waiting
        return reason, f"container {name}: {reason}" + (f": {message}" if message else "")
    return None


def pod_ready(pod: dict[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == TRUE for c in conds)


def pod_failure(pod: dict[str, Any]) -> tuple[str, str] | None:
    """The first reason this pod will not become ready on its own, if any (a Ready pod has none)."""
    if pod_ready(pod):
        return None
    status = pod.get("status") or {}
    for init in status.get("initContainerStatuses") or []:
        failure = _init_failure(init)
        if failure:
            return failure
    for cont in status.get("containerStatuses") or []:
        failure = _container_failure(cont)
        if failure:
            return failure
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
            return "Unschedulable", cond.get("message", "pod cannot be scheduled")
    return None


def pod_hash(pod: dict[str, Any]) -> str | None:
    return ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_TEMPLATE_HASH)


def pod_packages(pod: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, version, sha256) of every package the pod was created with."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_PACKAGES, "[]")
    try:
        pins = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(pins, list):
        return []
    return [
        (str(p.get("name", "")), str(p.get("version", "")), str(p.get("sha256", "")))
        for p in pins
        if isinstance(p, dict)
    ]


def served(pods: list[dict[str, Any]]) -> tuple[Served, ...]:
    """What the Ready pods run; by name, then the version most of them run first."""
    counts = Counter(pin for pod in pods if pod_ready(pod) for pin in pod_packages(pod))
    ordered = sorted(counts.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
    return tuple(Served(name, version, sha, n) for (name, version, sha), n in ordered)


def _ran(pod: dict[str, Any]) -> bool:
    """A container runtime created the server container (it has an ID)."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return any(s.get("name") == SERVER_CONTAINER and s.get("containerID") for s in statuses)


def _ready_since(pod: dict[str, Any]) -> str:
    conds = (pod.get("status") or {}).get("conditions") or []
    return next((str(c.get("lastTransitionTime") or "") for c in conds if c.get("type") == "Ready"), "")


def self_tests(pods: list[dict[str, Any]]) -> SelfTests:
    """What the Ready pods prove about self-tests (SelfTests)."""
    ready = [p for p in pods if pod_ready(p)]
    ran = [p for p in ready if _ran(p)]
    simulated = sorted({str((p.get("spec") or {}).get("nodeName") or "?") for p in ready if not _ran(p)})
    return SelfTests(served(ran), len(ran), max(map(_ready_since, ran), default=""), tuple(simulated))


def init_summaries(pods: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Tensor summaries by init container name, from successful `mlmodel fetch` runs."""
    found: dict[str, dict[str, Any]] = {}
    for pod in pods:
        for init in (pod.get("status") or {}).get("initContainerStatuses") or []:
            term = (init.get("state") or {}).get("terminated") or {}
            if term.get("exitCode") != 0 or not term.get("message"):
                continue
            try:
                data = json.loads(term["message"])
            except ValueError:
                continue
            if isinstance(data, dict) and "error" not in data:
                found.setdefault(init.get("name", ""), data)
    return found


def _deployment_deadline(deployment: dict[str, Any]) -> tuple[str, str] | None:
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return "ProgressDeadlineExceeded", cond.get("message", "rollout timed out")
    return None


def _rolled_out(deployment: dict[str, Any], replicas: int) -> bool:
    meta, st = deployment.get("metadata") or {}, deployment.get("status") or {}
    return (
        st.get("observedGeneration", 0) >= meta.get("generation", 1)
        and st.get("updatedReplicas", 0) == replicas
        and st.get("replicas", 0) == replicas
        and st.get("availableReplicas", 0) >= replicas
    )


def assess(
    deployment: dict[str, Any] | None, pods: list[dict[str, Any]], desired_hash: str, replicas: int
) -> Workload:
    """Turn the Deployment and its pods into Available, Progressing, a phase and what serves."""
    if deployment is None:
        return Workload(
            Cond("Available", FALSE, "DeploymentNotFound", "creating the Deployment"),
            Cond("Progressing", TRUE, "Creating", "creating the Deployment"),
            "Deploying",
        )
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    new = [p for p in live if pod_hash(p) == desired_hash]
    available = int((deployment.get("status") or {}).get("availableReplicas") or 0)
    rolling = Workload(
        Cond("Available", TRUE, "MinimumReplicasAvailable", f"{available} replicas available")
        if available
        else Cond("Available", FALSE, "MinimumReplicasUnavailable", "no replica is ready yet"),
        Cond("Progressing", TRUE, "ReplicaSetUpdated", "rollout in progress"),
        "Deploying",
        available,
        init_summaries(new or live),
        served(live),
        self_tests(live),
    )
    failure = next((f for f in map(pod_failure, new) if f), None)
    failure = failure or _deployment_deadline(deployment)
    if failure is not None:
        return _failed(rolling, failure)
    if _rolled_out(deployment, replicas):
        return replace(
            rolling,
            available=Cond(
                "Available", TRUE, "MinimumReplicasAvailable", f"{available}/{replicas} replicas available"
            ),
            progressing=Cond("Progressing", TRUE, "NewReplicaSetAvailable", "rollout complete"),
            phase="Running",
        )
    return rolling


def _failed(rolling: Workload, failure: tuple[str, str]) -> Workload:
    """A failed rollout: Degraded while old pods still serve, Failed when nothing does."""
    reason, message = failure
    progressing = Cond("Progressing", FALSE, reason, message)
    if rolling.ready_replicas:
        still = f"{rolling.ready_replicas} replica(s) still serving"
        available = Cond("Available", TRUE, "MinimumReplicasAvailable", still)
        return replace(rolling, available=available, progressing=progressing, phase="Degraded")
    available = Cond("Available", FALSE, reason, message)
    return replace(rolling, available=available, progressing=progressing, phase="Failed")
