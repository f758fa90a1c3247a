"""Watch store, users index and the trigger routing built on them (no cluster)."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

import pytest

from mlmodel_operator.config import Config
from mlmodel_operator.events import build_event
from mlmodel_operator.handlers import triggers
from mlmodel_operator.handlers.runtime import Runtime
from mlmodel_operator.watchcache import Store, UsersIndex, references


def body(kind: str, name: str, rv: str, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "namespace": "ns", "resourceVersion": rv, **extra.pop("meta", {})}
    return {"kind": kind, "metadata": meta, **extra}


def test_an_older_body_never_replaces_a_newer_one() -> None:
    store = Store()
    store.put(body("Deployment", "d", "10", spec={"replicas": 2}))  # our apply's response
    store.put(body("Deployment", "d", "9", spec={"replicas": 1}))  # a late watch event
    assert store.get("Deployment", "ns", "d")["spec"] == {"replicas": 2}  # type: ignore[index]
    store.remove(body("Deployment", "d", "9"))  # a stale DELETED is ignored too
    assert store.get("Deployment", "ns", "d") is not None
    store.remove(body("Deployment", "d", "11"))
    assert store.get("Deployment", "ns", "d") is None


def test_a_read_is_a_copy_a_caller_may_change() -> None:
    store = Store()
    store.put(body("Deployment", "d", "1", spec={"replicas": 2}))
    read = store.get("Deployment", "ns", "d")
    read["spec"]["replicas"] = 5  # type: ignore[index]
    assert store.get("Deployment", "ns", "d")["spec"] == {"replicas": 2}  # type: ignore[index]
    assert ("Deployment", "ns", "d") in store and ("Deployment", "ns", "e") not in store


def test_the_store_drops_managed_fields() -> None:
    store = Store()
    store.put(body("Service", "s", "1", meta={"managedFields": [{"manager": "x"}]}))
    assert "managedFields" not in store.get("Service", "ns", "s")["metadata"]  # type: ignore[index]


def test_the_store_answers_a_label_selector_within_one_kind_and_namespace() -> None:
    """How a pass finds the EndpointSlices a controller named itself, without a LIST."""
    store = Store()
    wanted = {"kubernetes.io/service-name": "s", "endpointslice.kubernetes.io/managed-by": "c"}
    store.put(body("EndpointSlice", "s-abc", "1", meta={"labels": {**wanted, "app": "x"}}))
    store.put(
        body(
            "EndpointSlice",
            "s-mirror",
            "1",
            meta={"labels": {**wanted, "endpointslice.kubernetes.io/managed-by": "m"}},
        )
    )
    store.put(body("EndpointSlice", "other", "1", meta={"namespace": "elsewhere", "labels": wanted}))
    store.put(body("Service", "s", "1", meta={"labels": wanted}))
    store.put(body("EndpointSlice", "bare", "1"))
    assert [b["metadata"]["name"] for b in store.labelled("EndpointSlice", "ns", wanted)] == ["s-abc"]


def test_the_users_index_answers_who_uses_a_package() -> None:
    index = UsersIndex()
    spec = {"packages": [{"name": "m", "package": "fruit"}, {"name": "l", "package": "labels"}]}
    index.set(("MLModelService", "ns", "a"), references("MLModelService", spec))
    index.set(("MLModelService", "ns", "b"), references("MLModelService", {"packages": []}))
    index.set(("MLModelService", "other", "c"), references("MLModelService", spec))
    assert index.users("MLModelService", "ns", "fruit") == ["a"]
    index.drop(("MLModelService", "ns", "a"))
    assert index.users("MLModelService", "ns", "fruit") == []
    assert references("VisionService", {"mlmodelName": "a"}) == {"a"}


class Recorder:
    """Stands in for the work queue: records the keys added and forgotten."""

    def __init__(self) -> None:
        self.keys: list[Hashable] = []
        self.forgotten: list[Hashable] = []

    def add(self, key: Hashable) -> None:
        self.keys.append(key)

    def forget(self, key: Hashable) -> None:
        self.forgotten.append(key)


def runtime() -> tuple[Runtime, Recorder]:
    rt = Runtime(Config(), None, lambda: None, lambda *a: None)  # type: ignore[arg-type, return-value]
    recorder = Recorder()
    rt.queue = recorder  # type: ignore[assignment]
    return rt, recorder


def test_events_queue_owners_and_a_deleted_package_reaches_its_users() -> None:
    rt, queued = runtime()
    service = body("MLModelService", "svc", "1", spec={"packages": [{"name": "m", "package": "fruit"}]})
    triggers.owner_event(rt, "MLModelService", "ADDED", service)
    triggers.owner_event(
        rt, "VisionService", None, body("VisionService", "vis", "2", spec={"mlmodelName": "svc"})
    )
    pod = body(
        "Pod",
        "p",
        "3",
        meta={"labels": {"app.kubernetes.io/component": "vision", "app.kubernetes.io/instance": "vis"}},
    )
    for key in rt.pods.apply("MODIFIED", pod):
        triggers.pods_changed(rt, key)
    vision = ("VisionService", "ns", "vis")
    assert queued.keys == [("MLModelService", "ns", "svc"), vision, vision]  # the pod queued its owner
    assert rt.store.get("Pod", "ns", "p") is None  # pods live in the pod cache
    assert [p["metadata"]["name"] for p in rt.pods.of(*vision)] == ["p"]
    queued.keys.clear()
    triggers.owner_event(rt, "ModelPackage", "DELETED", body("ModelPackage", "fruit", "4"))
    assert queued.keys == [("MLModelService", "ns", "svc")]  # it must turn Degraded


def test_pods_queue_only_a_stored_owner_and_nothing_while_paused() -> None:
    rt, queued = runtime()
    key = ("MLModelService", "ns", "svc")
    triggers.pods_changed(rt, key)  # deleted a moment ago, or never seen by this replica
    rt.store.put(body("MLModelService", "svc", "1"))
    rt.paused = lambda: True  # a peering standby
    triggers.pods_changed(rt, key)
    assert queued.keys == []
    rt.paused = lambda: False
    triggers.pods_changed(rt, key)
    assert queued.keys == [key]


def test_a_controller_slice_queues_its_owner_only_once_the_service_is_led_to_the_activator() -> None:
    """A running service's slices follow its pods (the pod watch reports those); a routed
    service's leftover slices must reach a pass, which deletes them."""
    rt, queued = runtime()
    labels = {
        "app.kubernetes.io/component": "mlmodel",
        "app.kubernetes.io/instance": "svc",
        "kubernetes.io/service-name": "svc-mlmodel",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    service = body("Service", "svc-mlmodel", "1", spec={"selector": {"app": "x"}}, meta={"labels": labels})
    triggers.child_event(rt, "ADDED", service)
    slice_ = body("EndpointSlice", "svc-mlmodel-abc", "2", meta={"labels": labels})
    triggers.child_event(rt, "MODIFIED", slice_)
    assert queued.keys == [("MLModelService", "ns", "svc")]  # the Service's own event only
    assert rt.store.get("EndpointSlice", "ns", "svc-mlmodel-abc") is not None  # still stored
    triggers.child_event(
        rt, "MODIFIED", body("Service", "svc-mlmodel", "3", spec={}, meta={"labels": labels})
    )
    triggers.child_event(
        rt, "MODIFIED", body("EndpointSlice", "svc-mlmodel-abc", "4", meta={"labels": labels})
    )
    assert queued.keys == [("MLModelService", "ns", "svc")] * 3


class DelayRecorder(Recorder):
    """Also records delayed adds."""

    def __init__(self) -> None:
        super().__init__()
        self.later: list[tuple[Hashable, float]] = []

    def add_after(self, key: Hashable, delay: float) -> None:
        self.later.append((key, delay))


def test_a_pass_arms_the_owners_resync_until_it_is_deleted_and_a_paused_replica_does_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt, _ = runtime()
    rt.queue = queue = DelayRecorder()  # type: ignore[assignment]
    passes: list[str] = []
    monkeypatch.setattr(triggers, "reconcile_package", lambda rt, ns, name: passes.append(name) or False)
    key = ("ModelPackage", "ns", "fruit")
    triggers.owner_event(rt, "ModelPackage", "ADDED", body("ModelPackage", "fruit", "1"))
    triggers.handle(rt, key)
    assert passes == ["fruit"] and queue.later == [(key, rt.config.resync_seconds)]
    rt.paused = lambda: True  # a peering standby: kopf queues everything again on resuming
    triggers.handle(rt, key)
    assert passes == ["fruit"] and len(queue.later) == 1
    rt.paused = lambda: False
    triggers.owner_event(rt, "ModelPackage", "DELETED", body("ModelPackage", "fruit", "2"))
    assert queue.forgotten == [key]
    triggers.handle(rt, key)  # an add that was already due
    assert len(queue.later) == 1  # gone: no resync armed


def test_an_event_names_the_owner_and_fits_the_api_limits() -> None:
    owner = {
        "apiVersion": "mlmodel.dev/v1alpha1",
        "kind": "MLModelService",
        "metadata": {"name": "svc", "namespace": "ns", "uid": "u1"},
    }
    event = build_event(owner, "Warning", "Degraded", "x" * 5000, datetime(2026, 1, 1, tzinfo=UTC))
    assert event["involvedObject"]["uid"] == "u1" and event["metadata"]["namespace"] == "ns"
    assert event["metadata"]["name"].startswith("svc.") and len(event["message"]) == 1024
    assert (
        event["reportingComponent"] == "mlmodel-operator" and event["lastTimestamp"] == "2026-01-01T00:00:00Z"
    )


def test_a_reconcile_pass_is_counted_and_timed_by_result() -> None:
    from mlmodel_operator import metrics

    def count(result: str) -> float:
        value = metrics.REGISTRY.get_sample_value(
            "mlmodel_operator_reconcile_total", {"kind": "Probe", "result": result}
        )
        return value or 0.0

    with metrics.reconcile_pass("Probe"):
        pass
    try:
        with metrics.reconcile_pass("Probe"):
            raise RuntimeError("API said 500")
    except RuntimeError:
        pass
    assert (count("success"), count("error")) == (1.0, 1.0)
    timed = metrics.REGISTRY.get_sample_value(
        "mlmodel_operator_reconcile_duration_seconds_count", {"kind": "Probe"}
    )
    assert timed == 2.0
