"""Wake on request, the handler: what a pass of a routed service asks the API server.

A stopped cluster is mostly routed services, each passing at every resync, so an idle pass
must cost the activator's address listing and nothing else; the leftovers of the endpoint
controllers come from the watch store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from helpers import owner

from mlmodel_operator.builders import wake
from mlmodel_operator.config import Config, ServiceRef
from mlmodel_operator.handlers.networkpolicy import sync_network_policy
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.handlers.wake import sync_service
from mlmodel_operator.k8s.client import Kube
from mlmodel_operator.status.runstate import RunState, decide

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SLICES = "/apis/discovery.k8s.io/v1/namespaces"
ENDPOINTS = "/api/v1/namespaces/ns/endpoints/fruit-mlmodel"
ACTIVATOR_SLICE = {
    "addressType": "IPv4",
    "ports": [{"name": "http", "port": 8080}],
    "endpoints": [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}],
}


class FakeKube:
    """Records every request; the activator's slices and `objects` (by path) are what exists."""

    def __init__(self, objects: dict[str, dict[str, Any]] | None = None) -> None:
        self.objects = objects or {}
        self.calls: list[tuple[str, str]] = []
        self.deleted: dict[str, Any] = {}
        self.applied: dict[str, Any] = {}

    def get(self, path: str) -> dict[str, Any] | None:
        self.calls.append(("GET", path))
        return self.objects.get(path)

    def list(
        self, path: str, label_selector: str | None = None, from_cache: bool = False
    ) -> list[dict[str, Any]]:
        self.calls.append(("LIST", f"{path}?{label_selector}"))
        return [ACTIVATOR_SLICE]

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        return Kube.apply(self, obj)  # type: ignore[arg-type]  # the real path and query

    def request(self, method: str, path: str, **kw: Any) -> Any:
        self.calls.append((method, path))
        if method == "DELETE":
            self.deleted[path] = kw["body"]["preconditions"]
        if method == "PATCH":
            self.applied[path] = kw["body"]
        return kw.get("body") if method == "PATCH" else None


def runtime(kube: FakeKube) -> Runtime:
    config = Config(activator_service=ServiceRef("sys", "act"))
    return Runtime(config, kube, lambda: NOW, lambda *a: None)  # type: ignore[arg-type, return-value]


def idle_stopped() -> tuple[dict[str, Any], RunState]:
    own = owner(wakeOnRequest=True)
    status = {"stopTime": "2026-01-01T11:00:00Z", "stopReason": "IdleStop"}
    return own, decide(own["spec"], status, NOW)


def controller_slice(manager: str, uid: str) -> dict[str, Any]:
    """A slice an endpoint controller keeps, with the labels it copied from our Service."""
    labels = {**wake.slices_of("fruit-mlmodel", manager), "app.kubernetes.io/managed-by": "mlmodel-operator"}
    meta = {"name": f"fruit-mlmodel-{uid}", "namespace": "ns", "uid": uid, "labels": labels}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta}


def routed_once(kube: FakeKube) -> Runtime:
    """A runtime whose store holds what the first routed pass applied."""
    rt = runtime(kube)
    own, run = idle_stopped()
    assert sync_service(rt, own, "mlmodel", run, None, new=False)
    kube.calls.clear()
    return rt


def test_an_idle_routed_pass_only_lists_the_activators_addresses() -> None:
    kube = FakeKube()
    rt = routed_once(kube)
    own, run = idle_stopped()
    assert sync_service(rt, own, "mlmodel", run, None, new=False)
    assert kube.calls == [("LIST", f"{SLICES}/sys/endpointslices?kubernetes.io/service-name=act")]


def test_the_pass_that_routes_the_service_deletes_the_endpoints_left_from_its_selector() -> None:
    kube = FakeKube({ENDPOINTS: {"metadata": {"name": "fruit-mlmodel", "uid": "ep-1"}}})
    rt = runtime(kube)
    own, stopped = idle_stopped()
    running = decide(own["spec"], {}, NOW)
    assert not sync_service(rt, own, "mlmodel", running, {"status": {"readyReplicas": 1}}, new=False)
    assert ("GET", ENDPOINTS) not in kube.calls  # a running service's are the controller's
    assert sync_service(rt, own, "mlmodel", stopped, None, new=False)
    assert ("GET", ENDPOINTS) in kube.calls
    assert kube.deleted == {ENDPOINTS: {"uid": "ep-1"}}


def test_a_stored_mirror_of_endpoints_brings_the_endpoints_read_back() -> None:
    """Endpoints written after the transition (a raced sync) show up as the mirror's event."""
    kube = FakeKube()
    rt = routed_once(kube)
    rt.store.put(controller_slice(wake.MIRRORED_SLICES, "m-1"))
    own, run = idle_stopped()
    sync_service(rt, own, "mlmodel", run, None, new=False)
    assert ("GET", ENDPOINTS) in kube.calls
    assert f"{SLICES}/ns/endpointslices/fruit-mlmodel-m-1" not in kube.deleted  # its controller's to remove


def test_the_controllers_slices_are_found_in_the_store_and_deleted_once() -> None:
    kube = FakeKube()
    rt = routed_once(kube)
    rt.store.put(controller_slice(wake.CONTROLLER_SLICES, "c-1"))
    own, run = idle_stopped()
    sync_service(rt, own, "mlmodel", run, None, new=False)
    assert kube.deleted == {f"{SLICES}/ns/endpointslices/fruit-mlmodel-c-1": {"uid": "c-1"}}
    assert [m for m, _ in kube.calls] == ["LIST", "DELETE"]  # the activator's, then the slice
    kube.calls.clear()
    sync_service(rt, own, "mlmodel", run, None, new=False)
    assert [m for m, _ in kube.calls] == ["LIST"]


def test_the_policy_admits_the_activators_namespace_from_the_setting() -> None:
    kube = FakeKube()
    sync_network_policy(runtime(kube), owner(networkPolicy={"enabled": True}, wakeOnRequest=True), "mlmodel")
    [policy] = kube.applied.values()
    [_, activator] = policy["spec"]["ingress"]
    [source] = activator["from"]
    assert source["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "sys"}
