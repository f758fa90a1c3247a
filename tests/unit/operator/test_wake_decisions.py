"""Wake on request, the operator's side: which stops a wake ends, and where the Service
leads meanwhile (pure builders and decisions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.unit.operator.helpers import owner

from mlmodel_operator.builders import wake
from mlmodel_operator.builders.children import build_service
from mlmodel_operator.clock import format_time
from mlmodel_operator.config import Config, ConfigError, ServiceRef
from mlmodel_operator.status.runstate import decide, wakes

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STOP = format_time(T0)


def stopped_status(reason: str, **extra: str) -> dict[str, str]:
    return {"stopTime": STOP, "stopReason": reason, **extra}


@pytest.mark.parametrize("reason", ["AutoStop", "IdleStop"])
def test_a_wake_of_this_stop_runs_the_service_again_with_fresh_timers(reason):
    spec = {"wakeOnRequest": True, "autoStop": "2h", "idleStop": "30m"}
    now = T0 + timedelta(hours=5)
    run = decide(spec, stopped_status(reason, wakeRequestedFor=STOP), now)
    assert not run.stopped
    assert run.running_since == now
    assert run.due_time == now + timedelta(hours=2)
    assert run.event is not None and run.event[0] == "Woken"


@pytest.mark.parametrize(
    "spec, status",
    [
        ({}, stopped_status("IdleStop", wakeRequestedFor=STOP)),  # wakeOnRequest off
        ({"wakeOnRequest": True}, stopped_status("IdleStop")),  # nobody asked
        ({"wakeOnRequest": True}, stopped_status("IdleStop", wakeRequestedFor="2025-12-31T00:00:00Z")),
        ({"wakeOnRequest": True, "stopped": True}, stopped_status("StoppedBySpec", wakeRequestedFor=STOP)),
    ],
)
def test_the_service_stays_stopped_without_a_wake_of_this_very_stop(spec, status):
    assert decide(spec, status, T0 + timedelta(hours=1)).stopped


def test_only_operator_made_stops_lead_to_the_activator():
    spec = {"wakeOnRequest": True}
    assert wakes(spec, decide(spec, stopped_status("IdleStop"), T0))
    assert not wakes({}, decide({}, stopped_status("IdleStop"), T0))
    manual = {"wakeOnRequest": True, "stopped": True}
    assert not wakes(manual, decide(manual, {}, T0))


@pytest.mark.parametrize(
    "wakes_now, spec, stopped, ready, routed",
    [
        (True, {"wakeOnRequest": True}, True, 0, True),
        (False, {"wakeOnRequest": True}, False, 0, True),  # woken, no pod Ready yet: keep holding
        (False, {"wakeOnRequest": True}, False, 1, False),  # awake: straight to the pods
        (False, {}, False, 0, False),
        (False, {"wakeOnRequest": True}, True, 0, False),  # spec.stopped: refused, not woken
    ],
)
def test_where_the_service_leads(wakes_now, spec, stopped, ready, routed):
    assert wake.should_route(wakes_now, spec, stopped, ready) is routed


def test_the_routed_service_keeps_name_and_ports_and_tells_the_activator_whose_it_is():
    own = owner(wakeOnRequest=True)
    plain = build_service(own, "mlmodel")
    routed = wake.routed_service(plain, own, "mlmodel")
    assert "selector" not in routed["spec"]
    assert routed["spec"]["ports"] == plain["spec"]["ports"]
    assert routed["metadata"]["name"] == plain["metadata"]["name"]
    assert routed["metadata"]["labels"][wake.ROUTE_LABEL] == "activator"
    notes = routed["metadata"]["annotations"]
    assert notes[wake.ANNOTATION_OWNER] == "mlmodelservices/fruit"
    assert "app.kubernetes.io/instance=fruit" in notes[wake.ANNOTATION_POD_SELECTOR]


def test_the_slice_points_the_http_port_at_the_ready_activator_pods():
    slices = [
        {
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.0.0.2"], "conditions": {"ready": True}},
                {"addresses": ["10.0.0.3"], "conditions": {"ready": False}},
            ],
        },
        {
            "addressType": "IPv6",
            "ports": [{"name": "http", "port": 1}],
            "endpoints": [{"addresses": ["a::"]}],
        },
    ]
    addresses, port = wake.activator_endpoints(slices)
    assert (addresses, port) == (["10.0.0.2"], 8080)
    built = wake.build_endpoint_slice(owner(), "mlmodel", addresses, port)
    labels = built["metadata"]["labels"]
    assert labels["kubernetes.io/service-name"] == "fruit-mlmodel"
    assert labels["endpointslice.kubernetes.io/managed-by"] != "endpointslice-controller.k8s.io"
    assert built["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert built["endpoints"] == [{"addresses": ["10.0.0.2"], "conditions": {"ready": True}}]


def test_the_activator_setting_names_one_service():
    config = Config.from_env({"MLMODEL_OPERATOR_ACTIVATOR_SERVICE": " sys/act "})
    assert config.activator_service == ServiceRef("sys", "act")
    assert Config.from_env({}).activator_service is None


@pytest.mark.parametrize("raw", ["act", "/act", "sys/", "sys/act/x", "/"])
def test_a_malformed_activator_setting_is_refused_naming_the_variable(raw):
    with pytest.raises(ConfigError, match=r"^MLMODEL_OPERATOR_ACTIVATOR_SERVICE=.*: expected namespace/name"):
        Config.from_env({"MLMODEL_OPERATOR_ACTIVATOR_SERVICE": raw})
