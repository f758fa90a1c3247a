"""Wake on request, the control plane's side, on kwok pods: a stopped service's Service leads
to the activator (no selector, an EndpointSlice of the activator's pods), a wake recorded in
status runs the service again, and once a pod is Ready the Service leads to the pods again.
The spec is never written. The activator's own HTTP side is tests/http/test_activator.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from operator_fixtures import ACTIVATOR_SERVICE, Objects, OperatorProcess
from test_operator import deployment, mlmodel, setup_fruit

pytestmark = pytest.mark.cluster
SLICES = "discovery.k8s.io/v1"
ACTIVATOR_IP = "10.244.9.9"


@pytest.fixture
def objs(kube: Any, namespace: str, mlmodel_operator: OperatorProcess) -> Iterator[Objects]:
    yield Objects(kube, namespace, mlmodel_operator)
    mlmodel_operator.reset_clock()


@pytest.fixture
def activator(kube: Any) -> None:
    """The activator's Service and a Ready endpoint, as the chart's Deployment would make them."""
    namespace, name = ACTIVATOR_SERVICE.split("/")
    api = kube
    if api.get(f"/api/v1/namespaces/{namespace}") is None:
        api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
    act = Objects(kube, namespace)
    if act.get("Service", name, api="v1") is None:
        act.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
            }
        )
    if act.get("EndpointSlice", f"{name}-1", api=SLICES) is None:
        act.create(
            {
                "apiVersion": SLICES,
                "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-1", "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": [ACTIVATOR_IP], "conditions": {"ready": True}}],
            }
        )


def service(objs: Objects) -> dict[str, Any]:
    found = objs.get("Service", "fruit-mlmodel", api="v1")
    assert found is not None
    return found


def activator_slice(objs: Objects) -> dict[str, Any] | None:
    return objs.get("EndpointSlice", "fruit-mlmodel-activator", api=SLICES)


def slice_names(objs: Objects) -> list[str]:
    """The EndpointSlices kube-proxy reads for the service's Service."""
    slices = objs.list("EndpointSlice", api=SLICES, selector="kubernetes.io/service-name=fruit-mlmodel")
    return [s["metadata"]["name"] for s in slices]


def test_a_stopped_service_leads_to_the_activator_and_a_wake_runs_it_again(
    objs: Objects, activator: None, mlmodel_operator: OperatorProcess
) -> None:
    setup_fruit(objs, mlmodel("fruit", autoStop="1h", wakeOnRequest=True, networkPolicy={"enabled": True}))
    objs.wait_phase("MLModelService", "fruit", "Running")
    policy = objs.get("NetworkPolicy", "fruit-mlmodel", api="networking.k8s.io/v1")
    assert policy is not None, "the service's NetworkPolicy"
    admitted = policy["spec"]["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"]
    activator_namespace = ACTIVATOR_SERVICE.split("/")[0]
    assert admitted == {"kubernetes.io/metadata.name": activator_namespace}, "the activator admitted"
    objs.wait(lambda: "selector" in service(objs)["spec"], "the Service selects the pods while running")
    generation = objs.get("MLModelService", "fruit")["metadata"]["generation"]  # type: ignore[index]

    mlmodel_operator.advance_clock(3700)
    status = objs.wait_phase("MLModelService", "fruit", "Stopped")
    assert status["stopReason"] == "AutoStop"
    routed = objs.wait(lambda: (s := activator_slice(objs)) and s, "the activator's EndpointSlice")
    assert [e["addresses"] for e in routed["endpoints"]] == [[ACTIVATOR_IP]]
    assert routed["ports"][0]["name"] == "http"
    svc = service(objs)
    assert "selector" not in svc["spec"] and svc["metadata"]["labels"]["mlmodel.dev/wake"] == "activator"
    assert svc["metadata"]["annotations"]["mlmodel.dev/owner"] == "mlmodelservices/fruit"
    # No Endpoints naming the stopped pods are left for kube-proxy to send requests to.
    objs.wait(lambda: objs.get("Endpoints", "fruit-mlmodel", api="v1") is None, "the stale Endpoints gone")
    objs.wait(lambda: slice_names(objs) == ["fruit-mlmodel-activator"], "only the activator's slice left")

    # What the activator writes on the first request: status only, naming this stop.
    wake = {"wakeRequestedAt": status["stopTime"], "wakeRequestedFor": status["stopTime"]}
    objs.patch("MLModelService", "fruit", {"status": wake}, subresource="/status")
    objs.wait_phase("MLModelService", "fruit", "Running")
    objs.wait(lambda: deployment(objs, "fruit-mlmodel")["spec"]["replicas"] == 1, "scaled back up")
    objs.wait(lambda: activator_slice(objs) is None, "the slice removed once a pod is Ready")
    assert "selector" in service(objs)["spec"]
    assert "mlmodel.dev/wake" not in service(objs)["metadata"].get("labels", {})
    assert "Woken" in {e["reason"] for e in objs.events("fruit")}
    after = objs.get("MLModelService", "fruit")
    assert after is not None and after["metadata"]["generation"] == generation  # spec untouched


def test_a_service_stopped_by_its_spec_is_not_led_to_the_activator(objs: Objects, activator: None) -> None:
    setup_fruit(objs, mlmodel("fruit", wakeOnRequest=True, stopped=True))
    objs.wait_phase("MLModelService", "fruit", "Stopped")
    assert "selector" in service(objs)["spec"]
    assert activator_slice(objs) is None
