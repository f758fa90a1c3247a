"""The pod watch and its cache: a listing replaces its scope, events keep it current (no cluster)."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx2

from mlmodel_operator.k8s.client import Kube
from mlmodel_operator.k8s.retry import NO_RETRIES
from mlmodel_operator.podcache import SELECTOR, PodCache, PodWatch, slim
from mlmodel_operator.status.workload import assess, pod_failure

SVC = ("MLModelService", "ns", "svc")
VIS = ("VisionService", "ns", "vis")


def pod(name: str, rv: str, owner: str = "svc", component: str = "mlmodel", ns: str = "ns") -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": rv,
            "labels": {"app.kubernetes.io/instance": owner, "app.kubernetes.io/component": component},
            "annotations": {"mlmodel.dev/template-hash": "h1", "other.io/big": "x" * 1000},
            "managedFields": [{"manager": "kubelet"}],
        },
        "spec": {"nodeName": "node-1", "containers": [{"name": "server", "image": "img"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def names(cache: PodCache, key: tuple[str, str, str]) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cache.of(*key))


def test_a_listing_replaces_its_scope_and_names_the_owners_it_changed() -> None:
    cache = PodCache(["ns", "other"])
    assert not cache.wait_synced(0)
    assert cache.replace("ns", [pod("a", "1"), pod("b", "1"), pod("v", "1", "vis", "vision")]) == {SVC, VIS}
    assert not cache.wait_synced(0)  # "other" is not listed yet
    assert cache.replace("other", [pod("c", "1", ns="other")]) == {("MLModelService", "other", "svc")}
    assert cache.wait_synced(0)
    # Listed again after the watch was down: b was deleted meanwhile, a is unchanged.
    assert cache.replace("ns", [pod("a", "1"), pod("v", "2", "vis", "vision")]) == {SVC, VIS}
    assert names(cache, SVC) == ["a"] and names(cache, VIS) == ["v"]
    assert cache.replace("ns", [pod("a", "1"), pod("v", "2", "vis", "vision")]) == set()
    assert names(cache, ("MLModelService", "other", "svc")) == ["c"]  # another scope is left alone


def test_watch_events_add_change_and_remove_pods() -> None:
    cache = PodCache()
    assert cache.wait_synced(0)  # no scope: the unit tests' empty cache
    assert cache.apply("ADDED", pod("a", "1")) == {SVC}
    assert cache.apply("MODIFIED", pod("a", "2", "vis", "vision")) == {SVC, VIS}  # relabelled
    assert names(cache, SVC) == [] and names(cache, VIS) == ["a"]
    assert cache.apply("DELETED", pod("a", "3", "vis", "vision")) == {VIS}
    assert names(cache, VIS) == []
    cache.apply("ADDED", pod("b", "4"))
    unowned = {"metadata": {"name": "b", "namespace": "ns", "labels": {}}}  # its labels edited
    assert cache.apply("MODIFIED", unowned) == {SVC} and names(cache, SVC) == []
    assert cache.apply("ADDED", {**unowned, "metadata": {**unowned["metadata"], "name": "x"}}) == set()


def test_slim_keeps_what_status_reads_and_drops_the_rest() -> None:
    failing = pod("a", "1")
    failing["status"] = {
        "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "no"}
        ]
    }
    kept = slim(failing)
    assert pod_failure(kept) == pod_failure(failing) == ("Unschedulable", "no")
    assert kept["metadata"]["annotations"] == {"mlmodel.dev/template-hash": "h1"}
    assert "managedFields" not in kept["metadata"] and kept["spec"] == {"nodeName": "node-1"}
    deployment = {"metadata": {"generation": 1}, "status": {"observedGeneration": 1, "availableReplicas": 1}}
    full, small = (
        assess(deployment, [pod("b", "1")], "h1", 1),
        assess(deployment, [slim(pod("b", "1"))], "h1", 1),
    )
    assert full == small


class Server(httpx2.Client):
    """Answers the pod LIST and WATCH from scripts: one list body and one event list per call."""

    def __init__(self, lists: list[dict[str, Any]], watches: list[list[dict[str, Any]]]) -> None:
        super().__init__(base_url="https://apiserver.test", transport=httpx2.MockTransport(self.handle))
        self.lists, self.watches = lists, watches
        self.seen: list[dict[str, str]] = []
        self.done = threading.Event()

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        params = dict(request.url.params)
        self.seen.append(params)
        if params.get("watch"):
            events = self.watches.pop(0)
            return httpx2.Response(200, content="\n".join(json.dumps(e) for e in events).encode())
        if not self.lists:
            self.done.set()
            return httpx2.Response(503, json={"kind": "Status", "code": 503})
        return httpx2.Response(200, json=self.lists.pop(0))


def test_the_watch_resumes_from_its_version_and_lists_again_after_410() -> None:
    server = Server(
        lists=[
            {"metadata": {"resourceVersion": "10"}, "items": [pod("a", "9"), pod("b", "9")]},
            {"metadata": {"resourceVersion": "20"}, "items": [pod("a", "12")]},
        ],
        watches=[
            [
                {"type": "ADDED", "object": pod("c", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
            ],  # the server ended this watch: resume from 12
            [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}],  # too old: list again
            [{"type": "DELETED", "object": pod("a", "21")}],
            [{"type": "ERROR", "object": {"kind": "Status", "code": 410}}],
        ],
    )
    cache, changed, stop = PodCache(["ns"]), [], threading.Event()
    watch = PodWatch(Kube(server, NO_RETRIES), cache, "ns", changed.append)
    thread = threading.Thread(target=watch.run, args=(stop,), daemon=True)
    thread.start()
    assert server.done.wait(5), "the third listing was never asked for"
    stop.set()
    thread.join(5)
    assert [s.get("resourceVersion") for s in server.seen[:5]] == ["0", "10", "12", "0", "20"]
    assert all(s["labelSelector"] == SELECTOR for s in server.seen)
    assert server.seen[1]["allowWatchBookmarks"] == "true"
    # The second listing dropped b and c (deleted while the watch was down), then a went.
    assert names(cache, SVC) == []
    assert changed == [SVC, SVC, SVC, SVC]
