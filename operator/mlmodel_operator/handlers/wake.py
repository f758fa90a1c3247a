"""Apply the Service of a serving owner, led to the shared activator while it wakes.

The activator's addresses are read from its own EndpointSlices (the API server's watch
cache) on each pass of a routed service only; a change of activator pods reaches stopped
services at their next pass (an event of theirs, or the resync).
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders import wake
from mlmodel_operator.builders.children import build_service
from mlmodel_operator.handlers.networkpolicy import delete_exactly
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import collection_path, object_path
from mlmodel_operator.status import runstate

SLICE_API = "discovery.k8s.io/v1"


def _activator(rt: Runtime) -> tuple[list[str], int | None]:
    assert rt.config.activator_service is not None
    namespace, name = rt.config.activator_service.split("/")
    path = collection_path(SLICE_API, "EndpointSlice", namespace)
    slices = rt.kube.list(path, f"kubernetes.io/service-name={name}", from_cache=True)
    return wake.activator_endpoints(slices)


def _ready(deployment: dict[str, Any] | None) -> int:
    return int(((deployment or {}).get("status") or {}).get("readyReplicas") or 0)


def sync_service(
    rt: Runtime,
    owner: dict[str, Any],
    component: str,
    run: runstate.RunState,
    deployment: dict[str, Any] | None,
    new: bool,
) -> bool:
    """Apply the Service (and the activator's slice when routed); True when routed."""
    spec = owner.get("spec") or {}
    service = build_service(owner, component)
    route = rt.config.activator_service is not None and wake.should_route(
        runstate.wakes(spec, run), spec, run.stopped, _ready(deployment)
    )
    addresses, port = _activator(rt) if route else ([], None)
    if port is None:
        rt.ensure(service, new)
        _drop_slice(rt, owner, component)
        return False
    rt.ensure(wake.routed_service(service, owner, component), new)
    rt.ensure(wake.build_endpoint_slice(owner, component, addresses, port), new)
    _drop_stale_endpoints(rt, service)
    _drop_controller_slices(rt, service)
    return True


def _drop_stale_endpoints(rt: Runtime, service: dict[str, Any]) -> None:
    """Delete the Endpoints the endpoints controller left behind when the selector went away.

    Why: the controller stops managing a Service without a selector but does not delete its
    Endpoints, and the mirroring controller copies them into an EndpointSlice. kube-proxy then
    sends part of the traffic to the stopped pods' addresses, where connections time out,
    instead of all of it to the activator. (Seen on the real node: requests held forever.)
    """
    path = object_path("v1", "Endpoints", service["metadata"]["namespace"], service["metadata"]["name"])
    stale = rt.kube.get(path)
    if stale is not None:
        delete_exactly(rt.kube, path, stale["metadata"]["uid"])


def _drop_controller_slices(rt: Runtime, service: dict[str, Any]) -> None:
    """Delete the EndpointSlices the EndpointSlice controller left behind for the stopped pods.

    Why: like the endpoints controller, it skips a Service without a selector and keeps the
    slices it wrote, their endpoints still `ready`. kube-proxy spread the requests over those
    and the activator's slice, and half of a burst timed out connecting to pods that were gone.
    (Seen on the real node; with the selector back, the controller writes fresh slices.)
    """
    namespace, name = service["metadata"]["namespace"], service["metadata"]["name"]
    selector = (
        f"kubernetes.io/service-name={name},endpointslice.kubernetes.io/managed-by={wake.CONTROLLER_SLICES}"
    )
    for stale in rt.kube.list(collection_path(SLICE_API, "EndpointSlice", namespace), selector):
        path = object_path(SLICE_API, "EndpointSlice", namespace, stale["metadata"]["name"])
        delete_exactly(rt.kube, path, stale["metadata"]["uid"])


def _drop_slice(rt: Runtime, owner: dict[str, Any], component: str) -> None:
    namespace = owner["metadata"]["namespace"]
    name = wake.slice_name(owner["metadata"]["name"], component)
    existing = rt.store.get("EndpointSlice", namespace, name)
    if existing is None:
        return
    path = object_path(SLICE_API, "EndpointSlice", namespace, name)
    delete_exactly(rt.kube, path, existing["metadata"]["uid"])
    rt.store.remove(existing)
