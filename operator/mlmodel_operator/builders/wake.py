"""Wake on request (pure): where a stopped service's Service leads, and what the shared
activator needs to find the service behind a request.

While a service with `spec.wakeOnRequest` is stopped by the operator (or has no Ready pod
yet after a wake), its Service loses its selector and gets an EndpointSlice of the
activator's Ready pods: the Service's name, ClusterIP and port stay what clients use, and
kube-proxy sends them to the activator. The selector is the operator's own field of its own
child, so this is no drift; spec is never touched. Once a pod is Ready the selector comes
back and the slice goes, so a running service's traffic never passes through the activator.
"""

from __future__ import annotations

from typing import Any

from mlmodel_operator.builders import common

ROUTE_LABEL = "mlmodel.dev/wake"  # value "activator": the Services the activator may serve
ROUTE_VALUE = "activator"
ANNOTATION_POD_SELECTOR = "mlmodel.dev/pod-selector"
ANNOTATION_OWNER = "mlmodel.dev/owner"  # "<plural>/<name>": whose status takes the wake request
PLURAL = {"mlmodel": "mlmodelservices", "vision": "visionservices"}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
SLICE_MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "mlmodel.dev-operator"  # not the EndpointSlice controller's: it leaves the slice alone
CONTROLLER_SLICES = "endpointslice-controller.k8s.io"  # the controller's, for a Service with a selector
MIRRORED_SLICES = "endpointslicemirroring-controller.k8s.io"  # copies of a selectorless Service's Endpoints


def should_route(wakes_now: bool, spec: dict[str, Any], stopped: bool, ready_replicas: int) -> bool:
    """To the activator while stopped for waking, and after a wake until a pod is Ready
    (held requests instead of refused connections during the cold start)."""
    return wakes_now or (bool(spec.get("wakeOnRequest")) and not stopped and ready_replicas == 0)


def routed_service(service: dict[str, Any], owner: dict[str, Any], component: str) -> dict[str, Any]:
    """The Service manifest without its selector, labelled and annotated for the activator."""
    owner_name = owner["metadata"]["name"]
    selector = ",".join(f"{k}={v}" for k, v in common.selector_labels(owner_name, component).items())
    meta = service["metadata"]
    return {
        **service,
        "metadata": {
            **meta,
            "labels": {**meta["labels"], ROUTE_LABEL: ROUTE_VALUE},
            "annotations": {
                ANNOTATION_POD_SELECTOR: selector,
                ANNOTATION_OWNER: f"{PLURAL[component]}/{owner_name}",
            },
        },
        "spec": {k: v for k, v in service["spec"].items() if k != "selector"},
    }


def slice_name(owner_name: str, component: str) -> str:
    return f"{common.child_name(owner_name, component)}-activator"


def build_endpoint_slice(
    owner: dict[str, Any], component: str, addresses: list[str], port: int
) -> dict[str, Any]:
    """The activator's pods as the endpoints of the service's `http` port (gRPC has none)."""
    owner_name = owner["metadata"]["name"]
    meta = common.child_metadata(owner, slice_name(owner_name, component), component)
    meta["labels"] = {
        **meta["labels"],
        SERVICE_NAME_LABEL: common.child_name(owner_name, component),
        SLICE_MANAGED_BY_LABEL: SLICE_MANAGER,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in sorted(addresses)],
    }


def slices_of(service_name: str, manager: str) -> dict[str, str]:
    """The labels of the EndpointSlices `manager` keeps for the Service `service_name`.

    Both controllers also copy the Service's labels (the mirroring one by way of the
    Endpoints), ours among them, so the operator's EndpointSlice watch stores these slices.
    """
    return {SERVICE_NAME_LABEL: service_name, SLICE_MANAGED_BY_LABEL: manager}


def activator_endpoints(slices: list[dict[str, Any]]) -> tuple[list[str], int | None]:
    """The Ready IPv4 addresses and the `http` port of the activator's own EndpointSlices."""
    addresses: set[str] = set()
    port = None
    for item in slices:
        if item.get("addressType") != "IPv4":
            continue
        port = next((p.get("port") for p in item.get("ports") or [] if p.get("name") == "http"), port)
        for endpoint in item.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready") is not False:
                addresses.update(endpoint.get("addresses") or [])
    return sorted(addresses), port
