"""The activator's decisions without a network: which service a Host names, which pods may
answer, how many requests wait and for how long (on an injected clock)."""

from __future__ import annotations

import pytest

from mlmodel_activator import routing
from tests.support.fakekube import ready_pod, routed_service


def route(name: str = "fruit-mlmodel", namespace: str = "shop", ip: str = "10.96.0.42") -> routing.Route:
    service = routed_service()
    service["metadata"].update(name=name, namespace=namespace)
    service["spec"]["clusterIP"] = ip
    found = routing.route_of(service)
    assert found is not None
    return found


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    "host",
    [
        "fruit-mlmodel",
        "fruit-mlmodel:8080",
        "fruit-mlmodel.shop",
        "fruit-mlmodel.shop.svc",
        "fruit-mlmodel.shop.svc.cluster.local:8080",
        "10.96.0.42:8080",
        "FRUIT-MLMODEL.Shop",
    ],
)
def test_every_way_a_client_names_the_service_finds_it(host):
    assert routing.find(host, [route(), route("other-mlmodel", ip="10.96.0.7")]) == route()


def test_a_name_in_two_namespaces_needs_the_namespace():
    routes = [route(), route(namespace="lab", ip="10.96.0.9")]
    with pytest.raises(routing.Ambiguous, match=r"fruit-mlmodel\.<namespace>"):
        routing.find("fruit-mlmodel:8080", routes)
    assert routing.find("fruit-mlmodel.lab", routes) == routes[1]


def test_unknown_hosts_and_unannotated_services_find_nothing():
    assert routing.find("10.96.0.1", [route()]) is None
    assert routing.find("fruit-mlmodel.lab", [route()]) is None
    bare = routed_service()
    bare["metadata"]["annotations"] = {}
    assert routing.routes_of([bare]) == []


def test_only_ready_pods_that_stay_are_backends():
    starting = ready_pod(9000)
    starting["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    leaving = ready_pod(9001)
    leaving["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    no_port_name = ready_pod(9002)
    no_port_name["spec"]["containers"][0]["ports"] = []
    assert routing.backends([starting, leaving, ready_pod(9003), no_port_name]) == [
        "127.0.0.1:8080",
        "127.0.0.1:9003",
    ]


def test_holds_are_bounded_and_end_at_their_deadline():
    clock = Clock()
    holds = routing.Holds(max_held=2, hold_seconds=30, clock=clock)
    first = holds.admit()
    assert first == 130
    assert holds.admit() is not None
    assert holds.admit() is None  # shed, not queued
    holds.release()
    assert holds.admit() is not None
    clock.now = 120
    assert holds.left(first) == 10
    clock.now = 131
    assert holds.left(first) == 0


def test_a_wake_is_recorded_once_then_again_only_if_nothing_came_up():
    clock = Clock()
    wakes = routing.Wakes(clock, {})
    assert wakes.due("shop/fruit-mlmodel")
    wakes.mark("shop/fruit-mlmodel")
    clock.now += routing.WAKE_REPEAT_SECONDS - 0.1
    assert not wakes.due("shop/fruit-mlmodel")
    clock.now += 0.1
    assert wakes.due("shop/fruit-mlmodel")
    wakes.mark("shop/fruit-mlmodel")
    wakes.forget("shop/fruit-mlmodel")
    assert wakes.due("shop/fruit-mlmodel")
