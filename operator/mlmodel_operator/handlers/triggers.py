"""Who gets reconciled when something changes.

Owners are reconciled on their own events and timers; a child's event
(Deployment, Service, ConfigMap, Pod) re-reconciles its owner, which is how
drift is repaired; a ModelPackage change reaches the MLModelServices using it,
and an MLModelService change reaches the VisionServices using it.
"""

from __future__ import annotations

import logging
from typing import Any

from mlmodel_operator import API_VERSION
from mlmodel_operator.builders.common import OWNER_KIND
from mlmodel_operator.handlers.modelpackage import reconcile_package
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.serving import reconcile_serving
from mlmodel_operator.k8s.client import collection_path, is_namespace_terminating

log = logging.getLogger("mlmodel_operator.triggers")


def reconcile(rt: Runtime, kind: str, namespace: str, name: str) -> None:
    """Run one reconcile, serialised and coalesced per object."""

    def work() -> None:
        try:
            if kind == "ModelPackage":
                reconcile_package(rt, namespace, name)
            else:
                reconcile_serving(rt, kind, namespace, name)
        except Exception as exc:
            if not is_namespace_terminating(exc):
                raise
            log.debug("%s %s/%s: namespace is terminating", kind, namespace, name)

    rt.coalescer.run((kind, namespace, name), work)


def _users(rt: Runtime, kind: str, namespace: str, match: Any) -> list[str]:
    if rt.coalescer.stopped.is_set():
        return []  # shutting down: nothing will be reconciled, so nothing to list
    items = rt.kube.list(collection_path(API_VERSION, kind, namespace))
    return [i["metadata"]["name"] for i in items if match(i.get("spec") or {})]


def package_changed(rt: Runtime, namespace: str, name: str) -> None:
    reconcile(rt, "ModelPackage", namespace, name)
    uses = lambda spec: any(p.get("package") == name for p in spec.get("packages") or [])  # noqa: E731
    for service in _users(rt, "MLModelService", namespace, uses):
        reconcile(rt, "MLModelService", namespace, service)


def model_service_changed(rt: Runtime, namespace: str, name: str) -> None:
    reconcile(rt, "MLModelService", namespace, name)
    for vision in _users(rt, "VisionService", namespace, lambda spec: spec.get("mlmodelName") == name):
        reconcile(rt, "VisionService", namespace, vision)


def vision_changed(rt: Runtime, namespace: str, name: str) -> None:
    reconcile(rt, "VisionService", namespace, name)


def child_changed(rt: Runtime, namespace: str, labels: dict[str, str]) -> None:
    """Map a child back to its owner through the labels every child carries."""
    kind = OWNER_KIND.get(labels.get("app.kubernetes.io/component", ""))
    owner = labels.get("app.kubernetes.io/instance")
    if kind and owner:
        reconcile(rt, kind, namespace, owner)
