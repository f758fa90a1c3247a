"""What the Deployment and its pods say about a serving owner (pure).

New pods are told from old ones by the template-hash annotation the builder
stamps: a failing init container or crash loop among *new* pods while old
pods are still available is a failed rollout (Degraded), not an outage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlmodel_operator.builders.common import ANNOTATION_TEMPLATE_HASH
from mlmodel_operator.status.conditions import FALSE, TRUE, Cond

BAD_WAITING = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "InvalidImageName",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class Workload:
    """Available/Progressing conditions plus the phase the workload alone implies."""

    available: Cond
    progressing: Cond
    phase: str
    ready_replicas: int = 0
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)


def _terminated_message(status: dict[str, Any]) -> str:
    for key in ("state", "lastState"):
        term = (status.get(key) or {}).get("terminated")
        if term and term.get("exitCode", 0) != 0:
            message = term.get("message") or term.get("reason") or f"exit {term.get('exitCode')}"
            return _error_text(message)
    return ""


def _error_text(message: str) -> str:
    """The one line that says what went wrong.

    `mlmodel fetch` writes {"error": ...} to its termination log. The server container
    uses `terminationMessagePolicy: FallbackToLogsOnError`, so its message is the tail of
    its log, whose last line is `mlmodel serve: error: ...` (or a traceback's last line).
    """
    try:
        data = json.loads(message)
    except ValueError:
        return _last_line(message)
    return str(data.get("error", message)) if isinstance(data, dict) else _last_line(message)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def _init_failure(status: dict[str, Any]) -> tuple[str, str] | None:
    name, waiting = status.get("name", "?"), (status.get("state") or {}).get("waiting") or {}
    detail = _terminated_message(status)
    if detail:
        return "InitContainerFailed", f"init container {name} failed: {detail}"
    if waiting.get("reason") in BAD_WAITING:
        return waiting["reason"], f"init container {name}: {waiting.get('message', '')}".strip()
    return None


def _container_failure(status: dict[str, Any]) -> tuple[str, str] | None:
    name, waiting = status.get("name", "?"), (status.get("state") or {}).get("waiting") or {}
    if waiting.get("reason") in BAD_WAITING:
        detail = _terminated_message(status) or waiting.get("message", "")
        return waiting["reason"], f"container {name}: {waiting['reason']}" + (f": {detail}" if detail else "")
    return None


def pod_failure(pod: dict[str, Any]) -> tuple[str, str] | None:
    """The first reason this pod will not become ready on its own, if any."""
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
    """Turn the Deployment and its pods into Available, Progressing and a phase."""
    if deployment is None:
        return Workload(
            Cond("Available", FALSE, "DeploymentNotFound", "creating the Deployment"),
            Cond("Progressing", TRUE, "Creating", "creating the Deployment"),
            "Deploying",
        )
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    new = [p for p in live if pod_hash(p) == desired_hash]
    summaries = init_summaries(new or live)
    available = int((deployment.get("status") or {}).get("availableReplicas") or 0)
    failure = next((f for f in map(pod_failure, new) if f), None)
    failure = failure or _deployment_deadline(deployment)
    if failure is not None:
        return _failed(failure, available, summaries)
    if _rolled_out(deployment, replicas):
        return Workload(
            Cond("Available", TRUE, "MinimumReplicasAvailable", f"{available}/{replicas} replicas available"),
            Cond("Progressing", TRUE, "NewReplicaSetAvailable", "rollout complete"),
            "Running",
            available,
            summaries,
        )
    avail = (
        Cond("Available", TRUE, "MinimumReplicasAvailable", f"{available} replicas available")
        if available
        else Cond("Available", FALSE, "MinimumReplicasUnavailable", "no replica is ready yet")
    )
    return Workload(
        avail,
        Cond("Progressing", TRUE, "ReplicaSetUpdated", "rollout in progress"),
        "Deploying",
        available,
        summaries,
    )


def _failed(failure: tuple[str, str], available: int, summaries: dict[str, dict[str, Any]]) -> Workload:
    """A failed rollout: Degraded while old pods still serve, Failed when nothing does."""
    reason, message = failure
    if available:
        return Workload(
            Cond(
                "Available",
                TRUE,
                "MinimumReplicasAvailable",
                f"{available} replica(s) of the previous version still serving",
            ),
            Cond("Progressing", FALSE, reason, message),
            "Degraded",
            available,
            summaries,
        )
    return Workload(
        Cond("Available", FALSE, reason, message),
        Cond("Progressing", FALSE, reason, message),
        "Failed",
        0,
        summaries,
    )
