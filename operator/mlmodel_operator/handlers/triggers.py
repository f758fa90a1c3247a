"""Who gets reconciled when something changes.

kopf's handlers call the `*_event` functions below from its event loop; they
only update the watch caches and add owner keys to the work queue, so they
never block. The queue's workers call `handle`:

* owners are reconciled on their own events, and again one resync interval
  after a pass (the queue's delayed add: drift nobody announced, re-verified
  package sources);
* a child's event (Deployment, Service, ConfigMap, NetworkPolicy,
  HorizontalPodAutoscaler, EndpointSlice: main.CHILDREN) re-reconciles its
  owner, which is how drift is repaired;
* a change the pod watch reports (podcache.py) re-reconciles the pods' owner,
  which is how status follows the pods;
* a ModelPackage whose status or spec changed reaches the MLModelServices
  using it, and an MLModelService whose status changed reaches the
  VisionServices using it (found in the users index, not by LISTing).
"""

from __future__ import annotations

import logging
from typing import Any

from mlmodel_operator import metrics
from mlmodel_operator.builders import wake
from mlmodel_operator.builders.common import OWNER_KIND
from mlmodel_operator.handlers.modelpackage import reconcile_package
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.serving import reconcile_serving
from mlmodel_operator.k8s.client import is_namespace_terminating
from mlmodel_operator.watchcache import key_of, references

log = logging.getLogger("mlmodel_operator.triggers")
# Who depends on whom: a change of the key kind reaches the value kind's users.
DEPENDANTS = {"ModelPackage": "MLModelService", "MLModelService": "VisionService"}


def owner_event(rt: Runtime, kind: str, type_: str | None, body: dict[str, Any]) -> None:
    """An owner's watch event: refresh the caches, then queue it (or its users when gone)."""
    _, namespace, name = key_of({**body, "kind": kind})
    if type_ == "DELETED":
        rt.users.drop((kind, namespace, name))
        rt.store.remove(body)
        rt.queue.forget((kind, namespace, name))
        notify_dependants(rt, kind, namespace, name)
        return
    rt.users.set((kind, namespace, name), references(kind, body.get("spec") or {}))
    rt.store.put(body)
    rt.queue.add((kind, namespace, name))


def child_event(rt: Runtime, type_: str | None, body: dict[str, Any]) -> None:
    """A child's event: keep the stored copy current and queue its owner (from its labels)."""
    if type_ == "DELETED":
        rt.store.remove(body)
    else:
        rt.store.put(body)
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    if _follows_pods(rt, body.get("kind"), meta.get("namespace"), labels):
        return
    kind = OWNER_KIND.get(labels.get("app.kubernetes.io/component", ""))
    owner = labels.get("app.kubernetes.io/instance")
    if kind and owner and meta.get("namespace"):
        rt.queue.add((kind, meta["namespace"], owner))


def _follows_pods(rt: Runtime, kind: Any, namespace: Any, labels: dict[str, str]) -> bool:
    """An EndpointSlice the EndpointSlice controller keeps for a Service with a selector.

    Why no pass for it: it changes whenever the Service's pods do, which the pod watch
    already reports. It is still stored: once the Service is led to the activator (no
    selector), the controller leaves it behind and a pass deletes it (handlers/wake.py),
    so from then on its events queue the owner like any child's.
    """
    if kind != "EndpointSlice" or labels.get(wake.SLICE_MANAGED_BY_LABEL) != wake.CONTROLLER_SLICES:
        return False
    service = rt.store.get("Service", str(namespace), labels.get(wake.SERVICE_NAME_LABEL, ""))
    return service is not None and bool((service.get("spec") or {}).get("selector"))


def pods_changed(rt: Runtime, key: tuple[str, str, str]) -> None:
    """The pod watch saw the owner's pods change: queue the owner, if it is ours to act on.

    Only owners the watch store holds: an owner deleted a moment ago (its pods go with the
    garbage collector) needs no pass, and a peering standby, whose owner watches kopf has
    paused, is not the one to act.
    """
    if not rt.paused() and key in rt.store:
        rt.queue.add(key)


def notify_dependants(rt: Runtime, kind: str, namespace: str, name: str) -> None:
    dependant = DEPENDANTS.get(kind)
    if dependant:
        for user in rt.users.users(dependant, namespace, name):
            rt.queue.add((dependant, namespace, user))


def handle(rt: Runtime, key: Any) -> None:
    """One queued key: reconcile it, reach its dependants if it changed, and resync it later.

    The resync is the queue's delayed add rather than a kopf timer: a timer needs kopf's
    finalizer on every object, one more write per object created and deleted. A replica
    that kopf has paused (a peering standby) reconciles nothing and drops the key; kopf
    lists every owner again, which queues them, when it resumes.
    """
    if rt.paused():
        return
    kind, namespace, name = key
    with metrics.reconcile_pass(kind):
        changed = _reconcile(rt, kind, namespace, name)
    if key in rt.store:
        rt.queue.add_after(key, rt.config.resync_seconds)
    if changed:
        notify_dependants(rt, kind, namespace, name)


def _reconcile(rt: Runtime, kind: str, namespace: str, name: str) -> bool:
    try:
        # A spec change always changes status too (observedGeneration), so "status written"
        # is the one signal that dependants must look again.
        if kind == "ModelPackage":
            return reconcile_package(rt, namespace, name)
        return reconcile_serving(rt, kind, namespace, name)
    except Exception as exc:
        if not is_namespace_terminating(exc):
            raise
        log.debug("%s %s/%s: namespace is terminating", kind, namespace, name)
        return False
