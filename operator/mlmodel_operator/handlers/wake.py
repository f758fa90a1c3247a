"""Apply the Service of a serving owner, led to the shared activator while it wakes.

The activator's addresses are read from its own EndpointSlices (the API server's watch
cache) on each pass of a routed service only; a change of activator pods reaches stopped
services at their next pass (an event of theirs, or the resync). What the endpoint
controllers leave behind is found in the operator's watch store, so that read is the only
request of an idle routed pass.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders import wake
from mlmodel_operator.builders.children import build_service
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.k8s.client import collection_path, delete_exactly, object_path
from mlmodel_operator.status import runstate

SLICE_API = "discovery.k8s.io/v1"


def _activator(rt: Runtime) -> tuple[list[str], int | None]:
    """The activator's Ready addresses, LISTed from the API server's watch cache (no etcd read).

    Not from the operator's store: the activator's Service is the chart's, never labelled
    `app.kubernetes.io/managed-by: mlmodel-operator`, so the children watch, which selects
    that label, never delivers its slices; and when the operator watches a list of
    namespaces, the release's own (where the chart grants this LIST) may be none of them.
    """
    ref = rt.config.activator_service
    assert ref is not None  # only a routed pass asks
    path = collection_path(SLICE_API, "EndpointSlice", ref.namespace)
    slices = rt.kube.list(path, f"kubernetes.io/service-name={ref.name}", from_cache=True)
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
    rerouted = rt.ensure(wake.routed_service(service, owner, component), new)
    rt.ensure(wake.build_endpoint_slice(owner, component, addresses, port), new)
    _drop_leftovers(rt, service["metadata"]["namespace"], service["metadata"]["name"], rerouted)
    return True


def _drop_leftovers(rt: Runtime, namespace: str, name: str, rerouted: bool) -> None:
    """What the endpoint controllers kept from the Service's selector (the two below say why)."""
    if rerouted or _slices(rt, namespace, name, wake.MIRRORED_SLICES):
        _drop_stale_endpoints(rt, namespace, name)
    _drop_controller_slices(rt, namespace, name)


def _slices(rt: Runtime, namespace: str, name: str, manager: str) -> list[dict[str, Any]]:
    """The EndpointSlices `manager` keeps for the Service, as the watch store holds them."""
    return rt.store.labelled("EndpointSlice", namespace, wake.slices_of(name, manager))


def _drop_stale_endpoints(rt: Runtime, namespace: str, name: str) -> None:
    """Delete the Endpoints the endpoints controller left behind when the selector went away.

    Why: the controller stops managing a Service without a selector but does not delete its
    Endpoints, and the mirroring controller copies them into an EndpointSlice. kube-proxy then
    sends part of the traffic to the stopped pods' addresses, where connections time out,
    instead of all of it to the activator. (Seen on the real node: requests held forever.)

    When: Endpoints are not among the watched kinds (that watch would follow the pods of every
    running service to catch a leftover only the transition leaves), so the caller GETs them
    on the pass that applied the routed Service (the transition; the Endpoints date from the
    selector), and then only while the store holds their mirror. The mirror carries our
    Service's labels (the endpoints controller copied them into the Endpoints, the mirroring
    controller copies them on), so the EndpointSlice watch stores it and queues a pass: that
    covers an endpoints sync which raced the transition, and an operator restarted between
    the apply and the delete.
    """
    path = object_path("v1", "Endpoints", namespace, name)
    stale = rt.kube.get(path)
    if stale is not None:
        delete_exactly(rt.kube, path, stale["metadata"]["uid"])


def _drop_controller_slices(rt: Runtime, namespace: str, name: str) -> None:
    """Delete the EndpointSlices the EndpointSlice controller left behind for the stopped pods.

    Why: like the endpoints controller, it skips a Service without a selector and keeps the
    slices it wrote, their endpoints still `ready`. kube-proxy spread the requests over those
    and the activator's slice, and half of a burst timed out connecting to pods that were gone.
    (Seen on the real node; with the selector back, the controller writes fresh slices.)
    They carry our Service's labels, so the watch store holds them: no LIST per pass.
    """
    for stale in _slices(rt, namespace, name, wake.CONTROLLER_SLICES):
        path = object_path(SLICE_API, "EndpointSlice", namespace, stale["metadata"]["name"])
        delete_exactly(rt.kube, path, stale["metadata"]["uid"])
        rt.store.remove(stale)


def _drop_slice(rt: Runtime, owner: dict[str, Any], component: str) -> None:
    namespace = owner["metadata"]["namespace"]
    name = wake.slice_name(owner["metadata"]["name"], component)
    existing = rt.store.get("EndpointSlice", namespace, name)
    if existing is None:
        return
    path = object_path(SLICE_API, "EndpointSlice", namespace, name)
    delete_exactly(rt.kube, path, existing["metadata"]["uid"])
    rt.store.remove(existing)
