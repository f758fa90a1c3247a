"""Posting Kubernetes Events for the operator's owners, as client-go's recorder does.

Reconciles run in the work queue's threads, outside kopf's per-object context, so
events go straight to the API (core/v1 Events; `kubectl describe` and `kubectl get
events` show them). A failed post is logged and never fails the reconcile: the status
already says what the event would have said.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mlmodel_operator.k8s.client import Kube, collection_path

EventPoster = Callable[[dict[str, Any], str, str, str], None]
log = logging.getLogger("mlmodel_operator.events")
COMPONENT = "mlmodel-operator"
MAX_MESSAGE = 1024  # the API server refuses longer Event messages


def build_event(
    owner: dict[str, Any], type_: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    """A core/v1 Event about `owner` (pure); the name is unique per owner and nanosecond."""
    meta = owner["metadata"]
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        },
        "type": type_,
        "reason": reason,
        "message": message[:MAX_MESSAGE],
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": socket.gethostname()[:128],  # the pod name in a pod
    }


def kube_poster(kube: Kube) -> EventPoster:
    """An EventPoster that creates Events through `kube` (retried like any request)."""

    def post(owner: dict[str, Any], type_: str, reason: str, message: str) -> None:
        event = build_event(owner, type_, reason, message, datetime.now(UTC))
        try:
            kube.request("POST", collection_path("v1", "Event", owner["metadata"]["namespace"]), body=event)
        except Exception as exc:  # never fail a reconcile for an event
            log.warning("event %s %s on %s not posted: %s", type_, reason, owner["metadata"]["name"], exc)

    return post


def recording_poster(sink: list[tuple[str, str, str, str]]) -> EventPoster:
    """A poster that records (name, type, reason, message) tuples, for tests."""

    def post(owner: dict[str, Any], type_: str, reason: str, message: str) -> None:
        sink.append((owner["metadata"]["name"], type_, reason, message))

    return post
